"""Datasets: the HumanML3D layout, procedural corpus synthesis and real mocap import.

- `actions`: the shared action vocabulary (labels of the hidden ground truth).
- `synth` (with `synth_legs`, `synth_body`): procedural, compositional motions and their ground truth.
- `captions`: the caption grammar, the word/POS tagger and left/right mirroring of words.
- `layout`: reading and writing the HumanML3D folder layout (features, joints, texts, splits, Mean/Std).
- `corpus`: `synth_corpus` (parallel, deterministic), `corpus_stats`, `preview_sheet`.
- `mocap`: `import_bvh_folder` (labels files, filename patterns, Bandai-Namco labels).
- `dataset`: `MotionTextDataset`, `LengthBucketSampler`, `collate_motions` for training.
"""
