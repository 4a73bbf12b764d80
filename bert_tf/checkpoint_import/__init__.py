"""Bundles from published BERT checkpoints: Google's TF1 release and keras-hub presets.

    google_bert           a release directory (bert_config.json, vocab.txt, bert_model.ckpt.*)
    keras_hub_preset      a keras-hub BertBackbone preset saved with `save_to_preset`
    imported_checkpoint   what both read into, and the bundle written from it

The bundle is a standard one: `train_bert_lm.py --init_checkpoint=BUNDLE` continues pretraining
it on a domain corpus, `train_bert_fine_tuning.py --init_checkpoint=BUNDLE` fine-tunes it.
"""

import dataclasses

from bert_tf.checkpoint_import.google_bert import is_google_checkpoint, read_google_checkpoint
from bert_tf.checkpoint_import.imported_checkpoint import check_output_dir, write_bundle
from bert_tf.checkpoint_import.keras_hub_preset import is_keras_hub_preset, read_keras_hub_preset
from bert_tf.errors import InputError
from bert_tf.run_config import setting

FORMATS = ("auto", "google", "keras_hub")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImportConfig:
    """Settings of an import; each field is a flag of `import_bert.py`."""

    source: str = setting(
        "",
        "A Google BERT release directory (bert_config.json, vocab.txt, bert_model.ckpt.*) or a "
        "keras-hub BERT preset saved in a directory.",
    )
    output_dir: str = setting("runs/imported", "Where the bundle goes; must be new or empty.")
    format: str = setting(
        "auto", "The source's format; auto tells them apart by their config file.", FORMATS
    )
    lower_case: bool | None = setting(
        None,
        "Google releases: whether the model is uncased (lower-case and strip accents, as "
        "Google's tokenizer does with do_lower_case). Unset: inferred from the vocabulary.",
    )


def import_bundle(config: ImportConfig) -> dict:
    """Reads a published BERT checkpoint and writes it as a bundle into `config.output_dir`.

    Returns:
        dict: the bundle's training summary (`imported_from`).

    Raises:
        InputError: bad settings or source; no bundle is written then.
    """
    if not config.source:
        raise InputError("give --source, the directory of the checkpoint to import")
    check_output_dir(config.output_dir)
    source_format = config.format
    if source_format == "auto":
        source_format = _detect(config.source)
    if source_format == "keras_hub" and config.lower_case is not None:
        raise InputError("--lower_case is for Google releases; a keras-hub preset records its own")
    if source_format == "google":
        checkpoint = read_google_checkpoint(config.source, config.lower_case)
    else:
        checkpoint = read_keras_hub_preset(config.source)
    return write_bundle(checkpoint, config.output_dir)


def _detect(directory: str) -> str:
    if is_google_checkpoint(directory):
        return "google"
    if is_keras_hub_preset(directory):
        return "keras_hub"
    raise InputError(
        f"--source={directory}: neither a Google BERT release (no bert_config.json) nor a "
        "keras-hub preset (no config.json naming its class); check the directory or give --format"
    )
