"""Neural models, one small readable model per file: rvq (motion tokenizer), masked and residual transformers."""
