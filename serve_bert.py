"""Serves an exported classifier over TF Serving's REST API, batching concurrent requests.

    bert-tf-serve --export_dir=exported/bert_tf
    bert-tf-serve --export_dir=exported/bert_tf --port=8501 --max_batch_size=64 --batch_timeout_ms=2

(or `python serve_bert.py ...`; needs `pip install -e ".[serve]"`). Then
`curl -d '{"instances": ["a text"]}' localhost:8501/v1/models/bert_tf:predict`. It serves the
newest version under --export_dir, picks up newer ones while running, and on SIGTERM answers
the requests in flight before it exits.
"""

from absl import flags

import bert_cli
from bert_tf.serving import ServeConfig, serve

bert_cli.define_config_flags(ServeConfig)
bert_cli.define_verbose_flag()
FLAGS = flags.FLAGS


def main(argv):
    bert_cli.reject_extra_arguments(argv)
    serve(bert_cli.config_from_flags(ServeConfig))


def run():
    """Console entry point."""
    bert_cli.run(main)


if __name__ == "__main__":
    run()
