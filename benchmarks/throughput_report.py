"""The throughput benchmark's report: markdown tables with the targets, and the cost-curve plot."""

import json
import os

PREDICTIONS = 20  # masked positions per sequence: the task's default, given to keras-hub too
INPUTS = {
    "real": "real corpus",
    "packed": "real corpus packed across documents",
    "full": "full-length batches",
}
#: keras-hub's input each of the engine's is compared with: a keras-hub user feeds one
#: document per sequence, so the engine's packed corpus is compared with keras-hub's corpus.
REFERENCE_INPUT = {"real": "real", "packed": "real", "full": "full"}
#: Engine / keras-hub ratios by input, the mini Transformer's share of the matmul peak, the
#: input pipeline's rate over what the tiny Transformer's training step consumes.
TARGETS = {"full": 1.3, "real": 2.0, "packed": 2.0, "mfu": 0.65, "pipeline": 10.0}


def measured_as(kind):
    """What the engine / keras-hub ratio on input `kind` compares."""
    return "tokens/s" if kind == "full" else "useful tokens/s"


#: What identifies one training measurement.
GROUP = ("engine", "backbone", "size", "input")


def find_row(rows, *key):
    """The row of `rows` whose GROUP values are `key`, or None."""
    return next((row for row in rows if tuple(row[k] for k in GROUP) == key), None)


REPORT = """\
# Training throughput: the engine against keras-hub, each part alone, how cost grows

`{command}`

{env[date]}; {env[cpu_count]} CPUs; TensorFlow {env[tensorflow]}, tensorflow-text
{env[tensorflow_text]}, Keras {env[keras]} ({env[keras_backend]}), keras-hub {keras_hub}. Masked
LM only, batch {s[batch_size]}, sequence length {s[length]}, {predictions} masked positions per
sequence; Keras dtype policy {s[dtype_policy]} for both engines. Timed steps per training
measurement: {s[steps]} after {s[warmup_steps]} warm-up steps{mini}. {s[rounds]} round(s), the
engine and keras-hub alternating in each. The whole run took {minutes:.1f} minutes.

## What this shows

{paragraph}

## Targets

{targets}
## Matmul peak

{peak[dtype]} `tf.matmul` of square n × n matrices, {peak[count]} chained in a `tf.function`,
best of {peak[repeats]} runs; the peak is the best size's, {peak[gflops]:.1f} GFLOP/s.

{peak_table}
## Training

Tokens/s are steps/s × the tokens per batch, counted over as many batches of the same dataset
as a tiny measurement trains (padded: every position of the batch; useful: real tokens). MFU is
padded tokens/s (padding positions are computed too) × training FLOPs per padded token (from
each batch's padded length) ÷ the measured matmul peak. keras-hub's `BertMaskedLM` is compiled
as its guides do, with AdamW and otherwise its defaults.

{training_table}
Engine / keras-hub, Transformer, useful tokens/s (on full-length batches every token is useful;
the engine's packed corpus against keras-hub's corpus, one document a sequence):

{ratio_table}
Tokens per batch, counted with no model:

{token_table}
## FLOPs per token

Counted analytically, 2 FLOPs per multiply-add; training ≈ 3 × forward. Transformer, per token
and layer: 8·H² (Q, K, V, O) + 4·H·I (feed-forward) + 4·S·H (attention scores and weighted sum).
TextCNN, per token and layer: Σ_k 2·k·H·F (a convolution of width k with F filters) + 2·(F·n_k)·H
(projection). Masked-LM head, per predicted position (P = {predictions} per sequence, so P/S of
it per token): 2·S·H (one-hot gather) + 2·H² (dense) + 2·H·V (vocabulary, V =
{flops[vocabulary_size]}). Here S = {s[length]}. keras-hub's BERT is counted with the
Transformer's formula (its gather is an index lookup, 2·S·H less per prediction).

{flops_table}
Estimate check, "mini at {check[issue_tokens_per_second]:,} tokens/s does roughly
{issue_mflop:.0f} MFLOP a token": this count gives the mini Transformer {mini_mflop:.1f} MFLOP
per training token at S = 128, so that rate is {check[gflops]:.0f} GFLOP/s,
{check[share_of_peak]:.0%} of the measured peak.

## Each part alone

{parts_table}
## How cost grows

Tiny Transformer, masked LM, full-length batches of random token ids; {cost[timed_steps]} steps
timed after {cost[warmup]}. {cost[sentence]}

{length_table}
{batch_table}
![seconds per step against sequence length and batch size]({png})
"""
TABLES = dict(  # header, then the row template filled from each item
    targets=("target | required | measured | met?", "{target} | {required} | {shown} | {verdict}"),
    peak_table=("n | GFLOP/s", "{n} | {gflops:.1f}"),
    training_table=(
        "engine | backbone | size | input | steps/s | padded tokens/s | useful tokens/s | "
        "useful tokens/s by round | training MFLOP / padded token | MFU | target / met?",
        "{engine} | {backbone} | {size} | {input_name} | {steps_per_second:.2f} | "
        "{padded_tokens_per_second:,.0f} | {useful_tokens_per_second:,.0f} | {by_round} | "
        "{mflop:.1f} | {mfu:.1%} | {verdict}",
    ),
    ratio_table=(
        "size | input | ratio | by round | target / met?",
        "{size} | {input_name} | {ratio:.2f}× | {by_round} | {verdict}",
    ),
    token_table=(
        "dataset | batches/s alone | padded tokens / batch | useful tokens / batch",
        "{name} | {batches_per_second:.1f} | {padded_tokens_per_batch:,.0f} | "
        "{useful_tokens_per_batch:,.0f}",
    ),
    flops_table=(
        "backbone | size | layers × H | forward MFLOP / token | training MFLOP / token",
        "{backbone} | {size} | {config[num_layers]} × {config[hidden_dim]} | {forward_mflop:.2f} | "
        "{mflop:.2f}",
    ),
    parts_table=("part | rate | target / met?", "{part} | {rate} | {verdict}"),
    length_table=(
        "sequence length | seconds / step | tokens/s | training MFLOP / token",
        "{length} | {seconds_per_step:.3f} | {tokens_per_second:,.0f} | {mflop:.2f}",
    ),
    batch_table=(
        "batch size | seconds / step | tokens/s",
        "{batch_size} | {seconds_per_step:.3f} | {tokens_per_second:,.0f}",
    ),
)


def _table(name, items):
    """Table `name` of `TABLES`, a row per item (a dash row when there is none)."""
    header, row = TABLES[name]
    columns = header.count("|") + 1
    rows = [row.format(**item) for item in items] or [" | ".join(["–"] * columns)]
    return (
        "\n".join([f"| {header} |", "|" + " --- |" * columns] + [f"| {r} |" for r in rows]) + "\n"
    )


def _met(met, required=""):
    verdict = "not measured" if met is None else ("met" if met else "**not met**")
    return f"{required}: {verdict}" if required else verdict


def what_this_shows(results):
    """The paragraph that reads the figures."""
    out, stats = [], results["token_stats"]
    for kind, name in INPUTS.items():
        found = [
            f"{r['ratio']:.2f}× ({r['size']})" for r in results["ratios"] if r["input"] == kind
        ]
        what = measured_as(kind)
        if found:
            out.append(
                f"On the {name} the engine's Transformer trains at {' and '.join(found)} "
                f"keras-hub's {what} (target {TARGETS[kind]:g}×)."
            )
    if results["keras_hub_note"]:
        out.append(f"keras-hub was not measured: {results['keras_hub_note']}.")
    padding = {
        k: 1 - v["useful_tokens_per_batch"] / v["padded_tokens_per_batch"] for k, v in stats.items()
    }
    real = stats["project_real"]
    out.append(
        f"A real-corpus sequence holds {real['useful_tokens_per_sequence']:.1f} tokens on average; "
        "the engine pads each length bucket's batch to its longest sequence, "
        f"{real['mean_padded_length']:.1f} positions on average, so {padding['project_real']:.0%} "
        "of the positions it computes are padding"
    )
    if "keras_hub_real" in padding:
        out[-1] += f", against {padding['keras_hub_real']:.0%} for keras-hub (fixed length)"
    out[-1] += "."
    packed = stats.get("project_packed")
    if packed:
        out.append(
            "Packed across documents (`--pack_across_documents`), a sequence holds "
            f"{packed['useful_tokens_per_sequence']:.1f} tokens, {padding['project_packed']:.0%} "
            "padding; it is compared with keras-hub's corpus, one document a sequence."
        )
    for kind, name in INPUTS.items():
        row = find_row(results["training_summary"], "project", "transformer", "mini", kind)
        if row:
            out.append(
                f"The mini Transformer uses {row['mfu']:.0%} of the measured "
                f"{results['matmul_peak']['dtype']} matmul peak on "
                f"the {name} (target {TARGETS['mfu']:.0%})."
            )
    ratio = results["parts"]["input_pipeline"]["ratio_to_tiny_step"]
    out.append(
        f"The input pipeline alone makes {ratio:.1f}× the "
        f"batches the tiny Transformer's training step consumes (target {TARGETS['pipeline']:g}×)."
    )
    return " ".join(out + [results["cost"]["sentence"]])


def _parts(results):
    """The rows of the each-part-alone table."""
    parts, vocab = results["parts"], results["vocabulary"]
    pipe, tune, predict = parts["input_pipeline"], parts["finetuning"], parts["prediction"]
    useful = pipe["batches_per_second"] * pipe["useful_tokens_per_batch"]
    rows = [
        (
            "input pipeline alone, real corpus",
            f"{pipe['batches_per_second']:.1f} batches/s, {useful:,.0f} useful tokens/s: "
            f"{pipe['ratio_to_tiny_step']:.1f}× what the tiny Transformer's step consumes",
            _met(pipe["ratio_to_tiny_step"] >= TARGETS["pipeline"], f"≥ {TARGETS['pipeline']:g}×"),
        ),
        (
            "fine-tuning, tiny Transformer classifier",
            f"{tune['examples_per_second']:,.0f} examples/s ({tune['timed_steps']} steps after "
            f"{tune['warmup']})",
            "–",
        ),
        (
            "prediction, `predict_probabilities` on valid.txt",
            f"{predict['texts_per_second']:,.0f} texts/s ({predict['texts']:,} texts, after a "
            "warm-up call)",
            "–",
        ),
        (
            "tokenizing the corpus",
            f"{parts['tokenizing']['seconds']:.1f} s, {parts['tokenizing']['tokens']:,} tokens",
            "–",
        ),
    ]
    if vocab.get("skipped"):
        rows.append(("vocabulary learning", f"skipped ({vocab['source']})", "not measured"))
    else:
        ours, theirs = vocab["project_seconds"], vocab.get("keras_hub_seconds")
        rows.append(
            (
                f"vocabulary learning, {vocab['size']:,} wordpieces, "
                f"{vocab['sentences']:,} sentences",
                f"engine {ours:.1f} s, keras-hub "
                + (f"{theirs:.1f} s" if theirs else "not measured"),
                _met(ours <= theirs if theirs else None, "≤ keras-hub"),
            )
        )
    return [dict(zip(("part", "rate", "verdict"), row)) for row in rows]


def _report_items(results):
    """The items of each table in `TABLES`, with the derived cells their rows show."""
    cost, mfu_target = results["cost"], f"≥ {TARGETS['mfu']:.0%}"
    training = []
    for r in results["training_summary"]:
        by_round = ", ".join(f"{v:,.0f}" for v in r["per_round_useful_tokens_per_second"])
        mini = (r["engine"], r["backbone"], r["size"]) == ("project", "transformer", "mini")
        verdict = _met(r["mfu"] >= TARGETS["mfu"], mfu_target) if mini else "–"
        mflop = r["training_flops_per_padded_token"] / 1e6
        training.append(dict(r, input_name=INPUTS[r["input"]], by_round=by_round, mflop=mflop))
        training[-1]["verdict"] = verdict
    ratios_ = [
        dict(r, input_name=INPUTS[r["input"]], verdict=_met(r["met"], f"≥ {r['target']:g}×"))
        for r in results["ratios"]
    ]
    for r in ratios_:
        r["by_round"] = ", ".join(f"{v:.2f}×" for v in r["per_round"])
    flops = [
        dict(r, forward_mflop=r["forward"] / 1e6, mflop=r["training"] / 1e6)
        for r in results["flops_per_token"]["rows"]
    ]
    return dict(
        targets=[
            dict(t, shown=t["measured"] or "–", verdict=_met(t["met"])) for t in results["targets"]
        ],
        peak_table=[dict(n=n, gflops=g) for n, g in results["matmul_peak"]["by_size"].items()],
        training_table=training,
        ratio_table=ratios_,
        token_table=[dict(v, name=k.replace("_", " ")) for k, v in results["token_stats"].items()],
        flops_table=flops,
        parts_table=_parts(results),
        length_table=[dict(p, mflop=p["training_flops"] / 1e6) for p in cost["by_length"]],
        batch_table=cost["by_batch"],
    )


def markdown_report(results, command, png_name):
    """The report: the settings, what the figures show, then every figure in tables."""
    s, env, flops = results["settings"], results["environment"], results["flops_per_token"]
    warmup, steps = s["mini_schedule"]
    mini = f"; mini, to bound the run time, {steps} after {warmup}" if "mini" in s["sizes"] else ""
    tables = {name: _table(name, items) for name, items in _report_items(results).items()}
    return REPORT.format(
        **tables,
        s=s,
        env=env,
        flops=flops,
        check=flops["check"],
        peak=results["matmul_peak"],
        cost=results["cost"],
        command=command,
        mini=mini,
        keras_hub=env["keras_hub"] or "not used",
        predictions=PREDICTIONS,
        minutes=results["wall_seconds"] / 60,
        paragraph=what_this_shows(results),
        issue_mflop=flops["check"]["issue_flops"] / 1e6,
        mini_mflop=flops["check"]["mini_flops"] / 1e6,
        png=png_name,
    )


def plot_cost(cost, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, key, label in zip(axes, ("length", "batch_size"), ("sequence length", "batch size")):
        points = cost["by_length" if key == "length" else "by_batch"]
        x, y = [p[key] for p in points], [p["seconds_per_step"] for p in points]
        axis.plot(x, y, "o-", label="measured")
        axis.plot(x, [y[0] * value / x[0] for value in x], "--", label="linear in tokens")
        axis.set(xscale="log", yscale="log", xlabel=label, ylabel="seconds per training step")
        axis.set_xticks(x, [str(value) for value in x])
        axis.legend()
    figure.suptitle("Tiny Transformer, masked LM, full-length batches")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_outputs(results, out, command):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + ".json", "w", encoding="utf-8") as f:
        json.dump(dict(results, command=command), f, indent=2, default=lambda o: o.item())
        f.write("\n")
    plot_cost(results["cost"], out + ".png")
    report = markdown_report(results, command, os.path.basename(out) + ".png")
    with open(out + ".md", "w", encoding="utf-8") as f:
        f.write(report)
    return report
