"""Build a held-out-language version of debian-tags from Debian's translated package descriptions.

    python -m benchmarks.debian_translation_set --language=ja --out_dir=DIR [--mirror=URL] \
        [--cache_dir=DIR]

debian-tags is English. This builds the same task in a held-out language whose text has no
spaces between words: Japanese descriptions of Debian 12 (bookworm, main) packages, labeled with
the debtags of the packages they translate. The tokenizer splits kanji one a token and WordPiece
cuts the kana runs between them, so the model reads characters and short pieces, not words: a
check that pretraining still pays off when the words are not given. Word n-grams would make a
weak reference there (a "word" is a whole clause), so fit the TF-IDF reference with
`--tfidf_features=char` of benchmarks/pretrain_vs_scratch.py.

The out dir is laid out as ../shared/data/debian-tags is: `pretrain.txt` (one sentence a line,
a blank line between documents), `train.txt`, `train_small.txt`, `valid.txt`, `test.txt`
(fastText format) and `labels.txt` (the labels with their train counts), with a README.md that
records the sizes and the downloaded files' SHA-256. Downloads go through `--cache_dir`; a
cached file is reused, so a second build from the same cache is identical.

How the set is made (the pure functions below, separate from the downloading):
- a translation is matched to its binary package by name and Description-md5, so an outdated
  translation of an older English description is left out;
- a package's split follows a hash of its *source* package (80/10/10), so binaries of one
  source never straddle train and test;
- the labels are the debtags seen at least `--min_label_count` times in train; a labeled
  example keeps only those, and one left with none is dropped;
- a text that repeats exactly is kept once, as its first tagged package by name (else its
  first package) has it, so it is in one split only;
- pretrain.txt holds the train split's packages, tagged or not: an untagged package of a valid
  or test source is left out too, since its description is often its tagged sibling's.

Descriptions are hard-wrapped at about 80 columns, in Japanese mid-word, so a wrapped line is
joined to the next without a space between two wide (CJK) characters, with one otherwise.
"""

import argparse
import bz2
import collections
import dataclasses
import hashlib
import lzma
import os
import re
import shlex
import statistics
import sys
import unicodedata
import urllib.error
import urllib.request

RELEASE = "bookworm"
ARCHITECTURE = "amd64"
DEFAULT_MIRROR = "http://deb.debian.org/debian/"
#: The files as the mirror may offer them, in order of preference.
TRANSLATION_NAMES = ("Translation-{language}.bz2", "Translation-{language}.xz")
PACKAGES_NAME = "Packages.xz"

#: Characters that end a sentence, per language.
SENTENCE_ENDS = {"ja": "。！？"}
#: Closing brackets and quotes that stay with the sentence they close.
CLOSERS = "」』）)]\"'"
#: A list item's first line: a bullet and a space.
BULLET = re.compile(r"[*\-+・•]\s")

#: A source's split by the first byte of the SHA-1 of its name: train below 80 %, valid below 90 %.
SPLIT_BOUNDS = (("train", 0.8), ("valid", 0.9), ("test", 1.0))
SPLITS = tuple(name for name, _ in SPLIT_BOUNDS)


@dataclasses.dataclass(frozen=True)
class Package:
    """A binary package with a translated description."""

    name: str
    source: str
    tags: tuple
    description: str  # the translated Description field: short line, then the long lines


@dataclasses.dataclass
class TranslationSet:
    """The built set: pretraining documents, labeled examples per split, and build counts."""

    documents: list  # [[sentence, ...], ...]
    examples: dict  # split -> [(text, (label, ...)), ...]
    label_counts: dict  # kept label -> train count
    counts: dict  # how many packages and examples each step kept or dropped


def parse_paragraphs(text):
    """The deb822 paragraphs of `text` (Packages, Translation files) as dicts of field -> value.

    A continuation line (one starting with whitespace) is appended to its field's value after a
    newline, with its leading whitespace kept, so a description's " ." paragraph breaks and
    indented list items survive for `description_blocks`.
    """
    paragraphs = []
    fields = {}
    field = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                paragraphs.append(fields)
            fields, field = {}, None
        elif line[0] in " \t":
            fields[field] += "\n" + line
        else:
            field, _, value = line.partition(":")
            fields[field] = value.strip()
    if fields:
        paragraphs.append(fields)
    return paragraphs


def match_translations(translations, packages, language):
    """Packages (in name order) whose translation matches their current English description.

    A translation names its package and the MD5 of the English description it translates; one
    whose MD5 no binary package of that name carries is outdated and left out. Tags come from
    the package's `Tag:` field; the source from `Source:` (without a version), or the package's
    own name when there is none.
    """
    by_key = {}
    for fields in packages:
        by_key.setdefault((fields["Package"], fields.get("Description-md5")), fields)
    matched = {}
    for translation in translations:
        name = translation["Package"]
        fields = by_key.get((name, translation["Description-md5"]))
        if fields is None or name in matched:
            continue
        tags = (tag.strip() for tag in fields.get("Tag", "").split(","))
        matched[name] = Package(
            name=name,
            source=fields.get("Source", name).split()[0],
            tags=tuple(sorted(tag for tag in tags if tag)),
            description=translation[f"Description-{language}"],
        )
    return [matched[name] for name in sorted(matched)]


def split_of(source):
    """The split ("train", "valid" or "test") of every binary package built from `source`."""
    fraction = hashlib.sha1(source.encode("utf-8")).digest()[0] / 256
    return next(name for name, bound in SPLIT_BOUNDS if fraction < bound)


def _is_wide(character):
    return unicodedata.east_asian_width(character) in "WF"


def join_wrapped(lines):
    """Lines wrapped from one paragraph, as one line: no space where the wrap falls between two
    wide (CJK) characters, which it does mid-word, one space elsewhere; runs of whitespace
    (including the ideographic space) collapse to one space."""
    text = ""
    for line in lines:
        line = " ".join(line.split())
        if text and line and not (_is_wide(text[-1]) and _is_wide(line[0])):
            text += " "
        text += line
    return text


def description_blocks(description):
    """The short description, then each paragraph and list item of the long one, as lines.

    " ." separates paragraphs; a line starting with a bullet starts a list item, which runs on
    over lines indented deeper than its bullet.
    """
    short, *long_lines = description.split("\n")
    blocks = [[short], []]
    item_indent = None  # the current list item's bullet column, outside a list item None
    for line in long_lines:
        content = line.strip()
        indent = len(line) - len(line.lstrip())
        if content == ".":
            blocks.append([])
            item_indent = None
        elif BULLET.match(content):
            blocks.append([content])
            item_indent = indent
        elif item_indent is not None and indent <= item_indent:
            blocks.append([content])
            item_indent = None
        else:
            blocks[-1].append(content)
    joined = (join_wrapped(block) for block in blocks)
    return [block for block in joined if block]


def split_sentences(text, language):
    """`text` cut after each run of the language's sentence ends and the brackets that close
    with them ("…！)。" ends once)."""
    ends = re.escape(SENTENCE_ENDS[language])
    pieces = re.findall(rf".+?(?:(?:[{ends}]+[{re.escape(CLOSERS)}]*)+|$)", text)
    return [piece.strip() for piece in pieces if piece.strip()]


def document_sentences(description, language):
    """A description as pretraining sentences: each block of `description_blocks`, cut into
    sentences."""
    return [
        sentence
        for block in description_blocks(description)
        for sentence in split_sentences(block, language)
    ]


def labeled_text(description):
    """A description as one line for a labeled file: its blocks joined by spaces."""
    return " ".join(description_blocks(description))


def fasttext_line(text, labels):
    """`text __label__a __label__b`."""
    return " ".join([text, *(f"__label__{label}" for label in labels)])


def _order_key(text):
    """A fixed pseudo-random order, so that train_small (train's first lines) is no alphabetical
    slice of the packages."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def build_set(packages, language, min_label_count):
    """Splits, labels and pretraining documents from matched packages (see the module doc)."""
    counts = collections.Counter(packages=len(packages))
    # Each distinct text once, from its first tagged package by name (else its first package).
    owners = {}
    for package in sorted(packages, key=lambda package: (not package.tags, package.name)):
        owners.setdefault(labeled_text(package.description), package)
    counts["duplicate_texts"] = len(packages) - len(owners)

    documents = []
    candidates = {split: [] for split in SPLITS}
    for text, package in sorted(owners.items(), key=lambda owner: owner[1].name):
        split = split_of(package.source)
        counts[f"{split}_split_texts"] += 1
        if split == "train":
            documents.append(document_sentences(package.description, language))
        if package.tags:
            candidates[split].append((package.name, text, package.tags))
        else:
            counts[f"{split}_split_untagged"] += 1

    train_counts = collections.Counter(tag for _, _, tags in candidates["train"] for tag in tags)
    label_counts = {
        label: count for label, count in sorted(train_counts.items()) if count >= min_label_count
    }
    examples = {}
    for split, split_candidates in candidates.items():
        kept = []
        for _, text, tags in sorted(
            split_candidates, key=lambda candidate: _order_key(candidate[0])
        ):
            labels = tuple(tag for tag in tags if tag in label_counts)
            if labels:
                kept.append((text, labels))
            else:
                counts["no_kept_label"] += 1
        examples[split] = kept
    return TranslationSet(documents, examples, label_counts, dict(counts))


def _percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def describe(translation_set, train_small_lines):
    """The figures README.md reports: pretrain size, and per labeled file its lines, labels an
    example and text length in characters."""
    files = dict(translation_set.examples)
    files["train_small"] = files["train"][:train_small_lines]
    figures = {
        "documents": len(translation_set.documents),
        "sentences": sum(len(document) for document in translation_set.documents),
        "labels": len(translation_set.label_counts),
        "files": {},
    }
    for name in ("train", "train_small", "valid", "test"):
        examples = files[name]
        lengths = [len(text) for text, _ in examples]
        figures["files"][name] = {
            "lines": len(examples),
            "mean_labels": statistics.fmean(len(labels) for _, labels in examples),
            "mean_chars": statistics.fmean(lengths),
            "p50_chars": _percentile(lengths, 0.5),
            "p90_chars": _percentile(lengths, 0.9),
        }
    return figures


def write_set(translation_set, out_dir, train_small_lines):
    """Write pretrain.txt, the labeled files and labels.txt into `out_dir`."""
    os.makedirs(out_dir, exist_ok=True)

    def write(name, lines):
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)

    pretrain_lines = []
    for document in translation_set.documents:
        if pretrain_lines:
            pretrain_lines.append("")
        pretrain_lines.extend(document)
    write("pretrain.txt", pretrain_lines)
    for split, examples in translation_set.examples.items():
        write(f"{split}.txt", [fasttext_line(text, labels) for text, labels in examples])
    write(
        "train_small.txt",
        [
            fasttext_line(text, labels)
            for text, labels in translation_set.examples["train"][:train_small_lines]
        ],
    )
    write(
        "labels.txt",
        [f"{label}\t{count}" for label, count in translation_set.label_counts.items()],
    )


def readme_text(figures, counts, language, min_label_count, train_small_lines, sources, command):
    """README.md for the out dir, in the manner of debian-tags'."""
    files = figures["files"]
    train = files["train"]

    def row(name, what):
        f = files[name]
        return (
            f"| `{name}.txt` | {what} | {f['lines']:,} lines | {f['mean_labels']:.2f} | "
            f"{f['mean_chars']:.0f} / {f['p50_chars']} / {f['p90_chars']} |"
        )

    lines = [
        f"# debian-tags-{language}: debian-tags in a held-out language ({language})",
        "",
        f"Built from Debian 12 ({RELEASE}, main, {ARCHITECTURE}) package metadata: the "
        f"`{language}` translations of the package descriptions, labeled with the debtags of "
        "the packages they translate. The same task as debian-tags, in a language whose text has "
        "no spaces between words: a model reads characters and short pieces, not words. Fit the "
        "TF-IDF reference with `--tfidf_features=char`.",
        "",
        "| file | what | size | labels an example | characters (mean / p50 / p90) |",
        "| --- | --- | --- | --- | --- |",
        f"| `pretrain.txt` | raw corpus for pretraining: one sentence per line, a blank line "
        "between documents (one document = one package description). Only packages of the "
        f"train split, tagged or not, are in it. | {figures['documents']:,} docs, "
        f"{figures['sentences']:,} sentences | | |",
        row("train", "labeled training set, fastText format"),
        row("train_small", f"the first {train_small_lines:,} lines of `train.txt`"),
        row("valid", "labeled validation set"),
        row("test", "labeled test set: report final figures on it, tune nothing on it"),
        f"| `labels.txt` | the {figures['labels']} labels (tags seen at least {min_label_count} "
        "times in train), with their train counts, tab-separated | "
        f"{figures['labels']} lines | | |",
        "",
        "## Format of the labeled files (fastText style)",
        "One example a line: the text, then its labels, each a token that starts with "
        f"`__label__` ({train['mean_labels']:.1f} on average in train). The text is raw: the "
        "short description, then the paragraphs and list items of the long one, joined by single "
        "spaces. Lines wrapped between two wide (CJK) characters are joined without a space (the "
        "wrap falls mid-word), other wraps with one; whitespace runs become one space.",
        "",
        "## How it was made",
        "A translation is matched to its binary package by name and `Description-md5` (outdated "
        "translations are left out). Split by Debian *source* package (the first byte of the "
        "SHA-1 of the source name: 80/10/10), so binaries of one source never straddle the "
        "splits. Texts that repeat exactly are kept once, in one split: as the first tagged "
        "package by name (else the first package) carrying them has them. Labels are "
        f"the debtags seen at least {min_label_count} times in train; an example keeps only "
        "those, and one left with none is dropped. Labeled lines are in a fixed pseudo-random "
        "order (SHA-1 of the package name). `pretrain.txt` holds the train split's packages, "
        "untagged ones included (untagged packages of valid or test sources are left out too: "
        "their descriptions are often their tagged siblings'). Sentences end after "
        f"`{SENTENCE_ENDS[language]}` and at paragraph and list-item breaks; the short "
        "description is a sentence of its own.",
        "",
        "Counts: " + ", ".join(f"{key} {value:,}" for key, value in sorted(counts.items())) + ".",
        "",
        "Made with:",
        "",
        f"    {command}",
        "",
        "from these files (a cached copy with the same SHA-256 rebuilds the same set):",
        "",
        *(f"- {url} (SHA-256 {digest})" for url, digest in sources),
        "",
    ]
    return "\n".join(lines)


def fetch(mirror, path, cache_dir):
    """The bytes of `mirror`/`path`, from `cache_dir` when it holds them, else downloaded there.

    Raises:
        urllib.error.HTTPError: the mirror does not have the file.
    """
    cached = os.path.join(cache_dir, RELEASE, path)
    if not os.path.exists(cached):
        url = mirror.rstrip("/") + f"/dists/{RELEASE}/{path}"
        with urllib.request.urlopen(url, timeout=120) as response:
            data = response.read()
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        with open(cached + ".part", "wb") as f:
            f.write(data)
        os.replace(cached + ".part", cached)
    with open(cached, "rb") as f:
        return f.read()


def decompress(name, data):
    """`data` unpacked by the compression its file `name` ends with, as UTF-8 text."""
    unpack = bz2.decompress if name.endswith(".bz2") else lzma.decompress
    return unpack(data).decode("utf-8")


def download_sources(mirror, cache_dir, language):
    """(translation text, packages text, [(url, sha256), ...]) for the language."""
    sources = []
    texts = []
    translation_paths = [
        f"main/i18n/{name.format(language=language)}" for name in TRANSLATION_NAMES
    ]
    for candidates in (translation_paths, [f"main/binary-{ARCHITECTURE}/{PACKAGES_NAME}"]):
        for position, path in enumerate(candidates):
            try:
                data = fetch(mirror, path, cache_dir)
                break
            except urllib.error.HTTPError as error:
                if error.code != 404 or position == len(candidates) - 1:
                    raise
        texts.append(decompress(path, data))
        url = mirror.rstrip("/") + f"/dists/{RELEASE}/{path}"
        sources.append((url, hashlib.sha256(data).hexdigest()))
    return texts[0], texts[1], sources


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--language", choices=sorted(SENTENCE_ENDS), required=True)
    parser.add_argument("--out_dir", required=True)
    parser.add_argument("--mirror", default=DEFAULT_MIRROR)
    parser.add_argument(
        "--cache_dir",
        default=os.path.join(os.path.expanduser("~"), ".cache", "debian_translation_set"),
        help="Downloaded files are kept here and reused.",
    )
    parser.add_argument("--min_label_count", type=int, default=20)
    parser.add_argument("--train_small_lines", type=int, default=1000)
    args = parser.parse_args()

    translation_text, packages_text, sources = download_sources(
        args.mirror, args.cache_dir, args.language
    )
    translations = parse_paragraphs(translation_text)
    packages = match_translations(translations, parse_paragraphs(packages_text), args.language)
    translation_set = build_set(packages, args.language, args.min_label_count)
    translation_set.counts["translations"] = len(translations)
    write_set(translation_set, args.out_dir, args.train_small_lines)
    figures = describe(translation_set, args.train_small_lines)
    command = "python -m benchmarks.debian_translation_set " + shlex.join(sys.argv[1:])
    readme = readme_text(
        figures,
        translation_set.counts,
        args.language,
        args.min_label_count,
        args.train_small_lines,
        sources,
        command,
    )
    with open(os.path.join(args.out_dir, "README.md"), "w", encoding="utf-8") as f:
        f.write(readme)
    print(readme)


if __name__ == "__main__":
    main()
