"""A tiny folder in HumanML3D's own layout, built from the two real HumanML3D motions in tests/fixtures.

What a user's HumanML3D download holds after its preparation scripts: new_joint_vecs/<id>.npy (T, 263), texts/<id>.txt
(caption#word/POS tokens#start#end, 0.0#0.0 for the whole clip, and sub-clip lines with times), train/val/test.txt
(with ids that have no files, as HumanML3D's split lists do), and Mean.npy / Std.npy. Mirrored copies are M<id>.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CAPTIONS = {
    "012314": ["a person walks forward and then turns around.", "someone walks ahead, then turns back."],
    "000612": ["a person jumps up and down.", "someone hops in place twice."],
}


def make_humanml3d(root: Path, copies: int = 6) -> Path:
    """Write a HumanML3D-layout folder of `copies` crops of each fixture motion; return the folder."""
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    ids: list[str] = []
    for src, caps in CAPTIONS.items():
        feats = np.load(FIXTURES / f"{src}_new_joint_vecs.npy").astype(np.float32)
        for k in range(copies):
            mid = f"{int(src) + k:06d}"
            clip = feats[4 * k:]
            np.save(root / "new_joint_vecs" / f"{mid}.npy", clip)
            lines = [f"{c}#{' '.join(w + '/OTHER' for w in c.rstrip('.').split())}#0.0#0.0" for c in caps]
            # A sub-clip caption with start and end times, as many HumanML3D texts have.
            lines.append(f"{caps[0]}#a/DET person/NOUN#0.5#{(len(clip) - 10) / 20:.1f}")
            (root / "texts" / f"{mid}.txt").write_text("\n".join(lines) + "\n")
            ids.append(mid)
    order = [ids[i] for i in np.random.default_rng(0).permutation(len(ids))]
    n = len(order)
    splits = {"train": order[: n - 4], "val": order[n - 4: n - 2], "test": order[n - 2:]}
    for name, part in splits.items():
        extra = ["999999"] if name == "train" else []  # listed without files, as in HumanML3D
        (root / f"{name}.txt").write_text("\n".join(part + extra) + "\n")
    (root / "all.txt").write_text("\n".join(ids) + "\n")
    train = np.concatenate([np.load(root / "new_joint_vecs" / f"{m}.npy") for m in splits["train"]])
    np.save(root / "Mean.npy", train.mean(0).astype(np.float32))
    np.save(root / "Std.npy", np.maximum(train.std(0), 1e-3).astype(np.float32))
    return root
