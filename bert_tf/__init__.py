"""bert_tf: BERT-style pretraining and fine-tuning with pluggable backbones."""
