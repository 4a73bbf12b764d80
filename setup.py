"""Installs bert_tf, its backbones and pretraining tasks, and the commands: the two training
stages, prediction, export, serving and the import of published BERT checkpoints."""

from setuptools import setup

setup(
    name="bert-tf",
    version="0.1.0",
    description="BERT-style pretraining and fine-tuning (multi-label, single-label, sentence "
    "pairs) with pluggable backbones",
    python_requires=">=3.10,<3.13",
    packages=["bert_tf", "bert_tf.checkpoint_import", "backbones", "pretrain_tasks"],
    py_modules=[
        "train_bert_lm",
        "train_bert_fine_tuning",
        "bert_cli",
        "predict_bert",
        "export_bert",
        "serve_bert",
        "import_bert",
    ],
    install_requires=[
        "tensorflow==2.21.*",
        "tensorflow-text==2.21.*",
        "keras>=3.10,<4",
        "h5py>=3.10",
        "numpy>=1.26",
        "absl-py>=2.0",
        # tf.summary needs it for the TensorBoard logs; tensorflow 2.21 no longer pulls it in.
        "tensorboard>=2.20",
    ],
    extras_require={
        # keras-hub: the importer's tests build a BertBackbone preset and compare outputs with
        # keras-hub's own. Importing a keras-hub preset needs it too (the command says so);
        # nothing else does, so it stays out of the core dependencies.
        "test": [
            "pytest>=8",
            "scikit-learn>=1.4",
            "matplotlib>=3.8",
            "starlette>=0.40,<2",
            "uvicorn>=0.30,<1",
            'keras-hub==0.32.*; python_version >= "3.11"',
        ],
        # bert-tf-serve: a light, well-kept ASGI stack (Starlette for requests and routing,
        # uvicorn for HTTP and graceful shutdown), pure Python; only the server needs it.
        "serve": ["starlette>=0.40,<2", "uvicorn>=0.30,<1"],
        "benchmark": ["scikit-learn>=1.4", "matplotlib>=3.8"],
        # benchmarks/throughput.py: the keras-hub reference (keras-hub 0.32 needs Python 3.11+;
        # on 3.10 the benchmark runs without it and says so).
        "bench": [
            'keras-hub==0.32.*; python_version >= "3.11"',
            "scikit-learn>=1.4",
            "matplotlib>=3.8",
        ],
    },
    entry_points={
        "console_scripts": [
            "bert-tf-pretrain=train_bert_lm:run",
            "bert-tf-finetune=train_bert_fine_tuning:run",
            "bert-tf-predict=predict_bert:run",
            "bert-tf-export=export_bert:run",
            "bert-tf-serve=serve_bert:run",
            "bert-tf-import=import_bert:run",
        ]
    },
)
