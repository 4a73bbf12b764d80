"""Installs bert_tf, its backbones and pretraining tasks, and the two training commands."""

from setuptools import setup

setup(
    name="bert-tf",
    version="0.1.0",
    description="BERT-style pretraining and fine-tuning (multi-label, single-label, sentence "
    "pairs) with pluggable backbones",
    python_requires=">=3.10,<3.13",
    packages=["bert_tf", "backbones", "pretrain_tasks"],
    py_modules=["train_bert_lm", "train_bert_fine_tuning", "bert_cli", "predict_bert"],
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
        "test": ["pytest>=8", "scikit-learn>=1.4", "matplotlib>=3.8"],
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
        ]
    },
)
