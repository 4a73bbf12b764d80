"""The serving benchmark's targets and its report (`<out>.json`, `<out>.md`)."""

from bert_tf import atomic_write

#: The server's share of in-process texts/s at the most clients; batched over unbatched texts/s
#: of single-text requests at the most clients; the largest p99 / p50 latency.
REQUIRED = {"share": 0.7, "batching_gain": 2.0, "tail": 10.0}


def targets(results: dict, clients: int) -> list[dict]:
    """Each target per model: what is required, what was measured, whether it was met."""
    found = []
    for model, figures in results["models"].items():
        rows = figures["server"]
        at_most = [r for r in rows if r["clients"] == clients]
        for row in (r for r in at_most if r["batching"]):
            found.append(
                _target(
                    f"{clients} clients x {row['request_size']} texts: share of in-process "
                    f"texts/s (batch {row['ceiling_batch']})",
                    model,
                    f">= {REQUIRED['share']:.0%}",
                    row["share_of_in_process"],
                    row["share_of_in_process"] >= REQUIRED["share"],
                    percent=True,
                )
            )
        single = {r["batching"]: r for r in at_most if r["request_size"] == 1}
        if set(single) == {True, False}:
            gain = single[True]["texts_per_second"] / single[False]["texts_per_second"]
            found.append(
                _target(
                    f"{clients} clients x 1 text: batched / unbatched texts/s",
                    model,
                    f">= {REQUIRED['batching_gain']:.1f}x",
                    gain,
                    gain >= REQUIRED["batching_gain"],
                )
            )
        tail = max(r["p99_ms"] / r["p50_ms"] for r in rows)
        found.append(
            _target("largest p99 / p50", model, f"< {REQUIRED['tail']:.0f}x", tail, tail < 10)
        )
        errors = sum(r["errors"] for r in rows)
        found.append(_target("errors", model, "0", errors, errors == 0))
    return found


def _target(name, model, required, measured, met, percent=False):
    shown = f"{measured:.0%}" if percent else f"{measured:.2f}"
    return dict(target=name, model=model, required=required, measured=shown, met=bool(met))


REPORT = """\
# Serving load: bert-tf-serve against the same export called in-process

`{command}`

{env[date]}; {env[cpu_count]} CPUs; Python {env[python]}; TensorFlow {env[tensorflow]},
tensorflow-text {env[tensorflow-text]}, Keras {env[keras]}, Starlette {env[starlette]}, uvicorn
{env[uvicorn]}. The server and its clients share the machine. Untrained classifiers over
{labels} labels (weights do not change the cost), sequences cut at {s[max_seq_length]} tokens,
texts from `test.txt`. Server: `--max_batch_size={s[max_batch_size]}
--batch_timeout_ms={s[batch_timeout_ms]}`, and `--max_batch_size=1` for no batching. Each client
is a thread with one keep-alive connection that sends {s[requests_per_client]} requests, one
after another. The whole run took {minutes:.1f} minutes.

The in-process ceiling of a server row is the export's signature called directly on batches of
the largest size that server can form from its clients' requests (requests are never split).

## Targets

{targets}
{models}"""

MODEL = """\
## {model}

In-process, the export's `serving_default` called directly:

{in_process}
Through the server:

{server}
"""


def markdown(results: dict) -> str:
    target_lines = [
        "| target | model | required | measured | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    for t in results["targets"]:
        met = "yes" if t["met"] else "**no**"
        target_lines.append(
            f"| {t['target']} | {t['model']} | {t['required']} | {t['measured']} | {met} |"
        )
    models = []
    for model, figures in results["models"].items():
        in_process = ["| batch | texts/s | ms a call |", "| --- | --- | --- |"]
        in_process += [
            f"| {r['batch_size']} | {r['texts_per_second']:.0f} | {r['ms_per_call']:.2f} |"
            for r in figures["in_process"]
        ]
        server = [
            "| batching | clients | texts a request | texts/s | p50 ms | p99 ms | errors | "
            "mean batch | share of in-process |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        server += [
            f"| {'yes' if r['batching'] else 'no'} | {r['clients']} | {r['request_size']} | "
            f"{r['texts_per_second']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['errors']} | {r['mean_batch']:.1f} | {r['share_of_in_process']:.0%} "
            f"(batch {r['ceiling_batch']}) |"
            for r in figures["server"]
        ]
        models.append(
            MODEL.format(
                model=model,
                in_process="\n".join(in_process) + "\n",
                server="\n".join(server) + "\n",
            )
        )
    return REPORT.format(
        command=results["command"],
        env=results["environment"],
        s=results["settings"],
        labels=results["labels"],
        minutes=results["wall_seconds"] / 60,
        targets="\n".join(target_lines) + "\n",
        models="\n".join(models),
    )


def write_outputs(results: dict, out: str) -> None:
    """Writes `<out>.json` and `<out>.md` (atomically)."""
    atomic_write.write_json(f"{out}.json", results)
    atomic_write.write_text(f"{out}.md", markdown(results))
