"""Generate the project's shipped sample data from a small grammar (stdlib only, deterministic).

The text describes fictional software packages. Each document is about one to three topics
(games, audio, databases, ...) and every sentence in it talks about the same package and topics,
so a masked LM and next-sentence prediction have something to learn, and the topics make
sensible labels for the multi-label classifier. Outputs, written to --out_dir:

- corpus.txt: pretraining corpus, one sentence per line, a blank line between documents.
- train.txt, valid.txt, test.txt: fastText format, ``text __label__a __label__b`` per line.

Usage: python data/make_sample.py [--seed 13] [--out_dir data]
"""

import argparse
import os
import random
import re

# topic: (kinds, nouns, adjectives, verbs, *phrases). Phrases are whole sentences with slots.
TOPICS = {
    "games": (
        "game roguelike platformer simulator",
        "level player puzzle sprite dungeon quest score board tile monster knight map gamepad",
        "retro addictive turn-based cooperative fast-paced pixel-art multiplayer",
        "play explore defeat collect solve unlock",
        "Players can save their progress after each {noun} and compare scores online.",
        "There are {num} levels, three difficulty settings and a hidden boss.",
    ),
    "networking": (
        "client daemon proxy library",
        "packet socket router protocol bandwidth latency connection host port tunnel gateway peer",
        "lightweight asynchronous peer-to-peer encrypted wireless low-latency",
        "route forward monitor capture resolve inspect",
        "It speaks IPv4 and IPv6 and listens on port {port} by default.",
        "Dropped connections are retried automatically when the {noun} comes back.",
    ),
    "audio": (
        "player synthesizer mixer recorder",
        "sound sample track playlist codec waveform microphone speaker volume tempo melody MIDI",
        "lossless stereo polyphonic low-latency analog ambient",
        "record mix encode stream normalize loop",
        "It decodes MP3, FLAC and Ogg Vorbis files at 44.1 or 48 kHz.",
        "Each {noun} can be routed to a separate bus with its own effects.",
    ),
    "graphics": (
        "viewer renderer converter painter",
        "image pixel texture shader polygon palette layer brush canvas bitmap gradient mesh",
        "photorealistic 3D vector-based hardware-accelerated high-resolution transparent",
        "render draw resize crop paint convert",
        "It opens PNG, JPEG and SVG images of up to {num} megapixels.",
        "The {noun} tool can undo up to {num} steps.",
    ),
    "science": (
        "simulator toolkit library solver",
        "equation vector molecule protein genome telescope graph dataset experiment particle orbit",
        "numerical statistical molecular astronomical symbolic quantum",
        "simulate compute analyze fit integrate plot",
        "Results can be exported to CSV and plotted with a single call.",
        "A naïve solver is included, but the default uses a faster {adj} method.",
    ),
    "databases": (
        "database server driver engine",
        "table query index record schema column row transaction key cursor replica cache",
        "relational embedded transactional distributed key-value columnar",
        "store query index replicate migrate join",
        "Queries are written in plain SQL and run inside a single transaction.",
        "The Japanese manual calls it a データベース engine for every {noun}.",
    ),
    "editors": (
        "editor notebook IDE word-processor",
        "text file buffer cursor syntax macro keyboard shortcut plugin tab bracket margin document",
        "modal extensible minimal distraction-free collaborative",
        "edit highlight indent search replace format",
        "Every {noun} action can be bound to a keyboard shortcut.",
        "Syntax highlighting covers more than {num} programming languages.",
    ),
    "security": (
        "scanner vault firewall auditor",
        "password key certificate signature vulnerability malware checksum token hash sandbox",
        "encrypted hardened tamper-proof cryptographic two-factor secure",
        "encrypt decrypt sign verify audit scan",
        "Keys are stored with AES-256 and never leave the local machine.",
        "Every {noun} is checked against a list of known vulnerabilities.",
    ),
    "education": (
        "tutor trainer quiz course",
        "lesson student teacher exercise vocabulary grammar homework classroom flashcard exam",
        "interactive beginner-friendly adaptive playful bilingual",
        "learn teach practice memorize review grade",
        "Teachers can track the progress of each student over the term.",
        "Lessons are available in English, français, 한국어 and 日本語.",
    ),
    "web": (
        "framework server browser generator",
        "page website blog template stylesheet HTML JavaScript URL cookie request response API",
        "static responsive RESTful lightweight modern",
        "serve publish browse build deploy link",
        "Pages are rendered from Markdown templates in under {num} milliseconds.",
        "It can serve a small blog or a café menu straight from a folder.",
    ),
    "sysadmin": (
        "utility monitor agent scheduler",
        "server disk process log backup job user service kernel memory partition uptime container",
        "headless automated unattended scalable robust",
        "monitor schedule restart configure deploy rotate",
        "Log files are rotated every night and compressed after {num} days.",
        "It can restart a crashed service and send an email to root.",
    ),
    "fonts": (
        "font typeface family collection",
        "glyph kerning ligature serif outline weight italic hinting Unicode character script",
        "monospaced sans-serif humanist condensed bold",
        "design render install preview hint embed",
        "It covers Latin, Greek, Cyrillic and Korean 한국어 hangul with {num} glyphs.",
        'The specimen sheet shows "café", "naïve" and "Straße" in every weight.',
    ),
}
VOCAB = {
    name: dict(zip(("kind", "noun", "adj", "verb"), (words.split() for words in spec[:4])))
    for name, spec in TOPICS.items()
}
PHRASES = {name: spec[4:] for name, spec in TOPICS.items()}
SHARED = {
    "lang": "C C++ Python Rust Go Java Lua OCaml Haskell".split(),
    "native": "français Deutsch español português italiano 日本語 한국어".split(),
    "city": ["Zürich", "São Paulo", "Kraków", "Montréal", "Reykjavík", "Tokyo", "Seoul", "Lyon"],
    "toolkit": "GTK Qt Tk wxWidgets".split(),
}
INTRO = (
    "{name} is a {adj} {kind} for {nouns} and {nouns}, aimed at beginners and experts alike.",
    "{name} {version} is a {adj} {kind} that helps you {verb} {nouns} quickly.",
    "This package provides {name}, a {adj} {kind} written in {lang}.",
    "{name} is a small {kind} to {verb} and {verb} {nouns} from one place.",
    "Meet {name}, a free {kind} for anyone who wants to {verb} {nouns}.",
)
# Body sentences that carry their topic's words, and a few that are about the package only.
TOPICAL = (
    "It can {verb} {nouns} and {verb} {adj} {nouns} in batch mode.",
    "The {noun} module lets users {verb} {nouns} without any extra setup or configuration.",
    "Version {version} adds support for {adj} {nouns} and fixes a long-standing {noun} bug.",
    "{name} keeps every {noun} in a plain text file, so it is easy to {verb} and share.",
    "Most people use it to {verb} {nouns}, but it can also {verb} {nouns}.",
    "It ships with {num} example {noun} files, a short tutorial and a reference manual.",
    "The {adj} {noun} mode has been enabled by default since the {year} release.",
    "Settings live in ~/.{cmd}rc and are reloaded whenever the {noun} changes.",
    "A naïve {noun} backend is kept for testing, but it is slow on large inputs.",
    "Bug reports about the {noun} code are welcome on the mailing list or the issue tracker.",
    "Compared with version {version}, the new {noun} code is about {few} times faster.",
    "When you {verb} a {noun}, {name} also updates the related {nouns} automatically.",
    "Plugins can add new {nouns} or change how the {adj} {noun} behaves.",
    "Thanks to its {adj} design, it can {verb} thousands of {nouns} per second.",
    "Unlike older tools, it can {verb} {nouns} and {nouns} without any network access.",
    "The {adj} {noun} view makes it easy to compare two {nouns} side by side.",
    "Each release is tested against {num} sample {nouns} before it is published.",
)
NEUTRAL = (
    "The project was started in a café in {city} in {year} and is still maintained today.",
    "The manual has been translated into {native} and {native} by volunteers.",
    "Written in {lang}, it builds on Linux, macOS and FreeBSD with no extra dependencies.",
    "It is released under the MIT license, and contributions of any size are welcome.",
    "Packages for Debian, Fedora and Arch Linux are built for every release.",
    "The latest release, {version}, can be installed with the usual package manager.",
)
INTERFACE = {
    "commandline": (
        "It runs in any terminal and has a simple command-line interface with sensible defaults.",
        "Run {cmd} --help in a shell to list every option.",
        "Everything can be scripted from the command line, which makes it easy to automate.",
    ),
    "gui": (
        "It has a clean graphical interface built with {toolkit}.",
        "The main window shows each {noun} next to a live preview.",
        "Most settings can be changed from a graphical dialog instead of a config file.",
    ),
}
INTERFACE_WORDS = {
    "commandline": re.compile(r"\b(terminal|command-line|command line|shell)\b"),
    "gui": re.compile(r"\b(graphical|window)\b"),
}
MASS_NOUNS = (
    "bandwidth latency malware memory uptime grammar vocabulary homework syntax text kerning"
    " hinting Unicode MIDI HTML JavaScript"
).split()
SYLLABLES = "ar bo ka lin mo nex qu ri sol ta vi zor fen dra pix um".split()
SLOT = re.compile(r"\{(\w+)\}")
# "a" before a vowel sound becomes "an" (but "a user", "a Unicode font", "a URL").
ARTICLE = re.compile(r"\ba (?=[aeiouAEIOU])(?!us|Uni|URL)")


def package_name(rng):
    """A made-up package name such as "Solfen" or "Kadrapix"."""
    parts = rng.choices(SYLLABLES, k=rng.choice((2, 2, 3)))
    return "".join(parts).capitalize()


def version(rng):
    """A version string such as "2.4" or "0.11.3"."""
    text = f"{rng.randint(0, 5)}.{rng.randint(1, 19)}"
    return text + f".{rng.randint(1, 9)}" if rng.random() < 0.3 else text


def plural(noun):
    """The plural of a vocabulary noun; mass nouns stay as they are."""
    if noun in MASS_NOUNS:
        return noun
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def pick(rng, options, used):
    """A random option not in `used` (any option once all are used); records the choice."""
    choice = rng.choice([option for option in options if option not in used] or options)
    used.append(choice)
    return choice


def fill(rng, template, topic, name):
    """Fill every {slot} of a template independently, then fix articles and capitalisation."""
    used = []

    def word(match):
        slot = match.group(1)
        if slot == "name":
            return name
        if slot == "cmd":
            return name.lower()
        if slot == "version":
            return version(rng)
        if slot == "year":
            return str(rng.randint(2003, 2024))
        if slot == "num":
            return str(rng.choice((3, 5, 8, 10, 12, 16, 20, 24, 30, 32, 40, 50, 64, 100)))
        if slot == "few":
            return str(rng.randint(2, 9))
        if slot == "port":
            return str(rng.randint(1024, 9999))
        if slot == "nouns":
            return plural(pick(rng, VOCAB[topic]["noun"], used))
        if slot in VOCAB[topic]:
            return pick(rng, VOCAB[topic][slot], used)
        return pick(rng, SHARED[slot], used)

    text = ARTICLE.sub("an ", SLOT.sub(word, template))
    return text[0].upper() + text[1:]


def document(rng, min_sentences, max_sentences):
    """A list of sentences about one package, and the sorted list of its topics."""
    topics = rng.sample(list(TOPICS), k=rng.choices((1, 2, 3), weights=(5, 3, 2))[0])
    name = package_name(rng)
    interface = rng.choices(("", "commandline", "gui"), weights=(2, 1, 1))[0]
    n_body = rng.randint(min_sentences, max_sentences) - 1 - bool(interface)
    # The first topic opens the document; every other topic gets at least one topical sentence.
    plan = topics[1:] + rng.choices(topics, k=max(0, n_body - len(topics) + 1))
    rng.shuffle(plan)
    used = []
    sentences = [fill(rng, pick(rng, INTRO, used), topics[0], name)]
    covered = topics[:1]
    for topic in plan:
        if topic in covered and rng.random() < 0.25:
            templates = NEUTRAL
        else:
            templates = PHRASES[topic] if rng.random() < 0.3 else TOPICAL
        covered.append(topic)
        sentences.append(fill(rng, pick(rng, templates, used), topic, name))
    if interface:
        sentence = fill(rng, pick(rng, INTERFACE[interface], used), topics[0], name)
        sentences.insert(rng.randint(1, len(sentences)), sentence)
    return sentences, sorted(topics)


def labels(text, topics):
    """Topic labels, plus an interface label if the text mentions one."""
    found = [f"__label__topic::{topic}" for topic in topics]
    for interface, pattern in INTERFACE_WORDS.items():
        if pattern.search(text.lower()):
            found.append(f"__label__interface::{interface}")
    return found


def labeled_lines(rng, count, seen):
    """`count` fastText lines of 20-80 words of text, none whose text is already in `seen`."""
    lines = []
    while len(lines) < count:
        sentences, topics = document(rng, 2, 6)
        text = " ".join(sentences)
        if not 20 <= len(text.split()) <= 80 or text in seen:
            continue
        seen.add(text)
        lines.append(" ".join([text] + labels(text, topics)))
    return lines


def write(path, lines):
    """Write lines as UTF-8 with "\\n" endings and report the file."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {path}: {len(lines)} lines")


def main(argv=None):
    """Parse flags and write the corpus and the three labeled splits."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=13, help="random seed (default 13)")
    parser.add_argument(
        "--out_dir",
        default=os.path.dirname(os.path.abspath(__file__)),
        help="output directory (default: this script's directory)",
    )
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    os.makedirs(args.out_dir, exist_ok=True)

    corpus = []
    for i in range(2500):
        if i:
            corpus.append("")
        corpus.extend(document(rng, 3, 7)[0])
    write(os.path.join(args.out_dir, "corpus.txt"), corpus)

    seen = set()
    for split, count in (("train", 800), ("valid", 200), ("test", 200)):
        write(os.path.join(args.out_dir, f"{split}.txt"), labeled_lines(rng, count, seen))


if __name__ == "__main__":
    main()
