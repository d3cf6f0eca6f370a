"""The Motion Reasoner's default language model: global caption in, 21 part descriptions out.

A small transformer decoder writes every description field (6 groups, 15 pairs) in
parallel: each field is its own token sequence that starts from a learned field
embedding and cross-attends to frozen token features of the global caption. Writing
the fields in parallel, with a key/value cache, keeps generation to a few dozen cheap
decoder steps per caption. Tokens are WordPiece ids of the frozen encoder's tokenizer,
remapped to the compact vocabulary seen in training so the output layer stays small.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kinmo_core.models.masked_transformer import gumbel_noise

PAD, BOS, EOS, UNK = 0, 1, 2, 3
NUM_SPECIAL = 4


@dataclass
class ReasonerConfig:
    """Sizes of the reasoner's decoder."""

    vocab_size: int = 2048
    text_dim: int = 384
    num_fields: int = 21
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    max_len: int = 40

    def to_dict(self) -> dict:
        """Return the config as a JSON-ready dict."""
        return asdict(self)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


class Block(nn.Module):
    """Pre-norm decoder block: causal self-attention (with cache), cross-attention to the caption, MLP."""

    def __init__(self, cfg: ReasonerConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.heads = cfg.n_heads
        self.dropout = cfg.dropout
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.self_out = nn.Linear(d, d)
        self.q_cross = nn.Linear(d, d)
        self.kv_cross = nn.Linear(d, 2 * d)
        self.cross_out = nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, cfg.ff_mult * d), nn.GELU(), nn.Linear(cfg.ff_mult * d, d))
        self.drop = nn.Dropout(cfg.dropout)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        n, length, _ = x.shape
        return x.view(n, length, self.heads, -1).transpose(1, 2)

    def memory_kv(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of the caption features, computed once per caption."""
        k, v = self.kv_cross(memory).chunk(2, dim=-1)
        return self._split(k), self._split(v)

    def forward(self, x: torch.Tensor, mem_kv: tuple[torch.Tensor, torch.Tensor], mem_mask: torch.Tensor | None,
                cache: dict | None = None) -> torch.Tensor:
        """Apply the block to x (N, L, D); with a cache, x holds only the new positions; mem_mask None: no padding."""
        p = self.dropout if self.training else 0.0
        drop = self.drop if self.training else _identity
        q, k, v = (self._split(t) for t in self.qkv(self.ln1(x)).chunk(3, dim=-1))
        if cache is not None and "size" in cache:
            # Preallocated buffers: concatenating a growing cache every step costs as much as the matmuls.
            n = cache.get("n", 0)
            if "k" not in cache:
                cache["k"] = k.new_empty(k.shape[0], k.shape[1], cache["size"], k.shape[3])
                cache["v"] = torch.empty_like(cache["k"])
            cache["k"][:, :, n:n + k.shape[2]] = k
            cache["v"][:, :, n:n + v.shape[2]] = v
            cache["n"] = n + k.shape[2]
            k, v = cache["k"][:, :, :cache["n"]], cache["v"][:, :, :cache["n"]]
        elif cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        causal = cache is None or q.shape[2] > 1
        a = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=causal)
        x = x + drop(self.self_out(a.transpose(1, 2).reshape(a.shape[0], a.shape[2], -1)))
        q = self._split(self.q_cross(self.ln2(x)))
        a = F.scaled_dot_product_attention(q, mem_kv[0], mem_kv[1], dropout_p=p,
                                           attn_mask=None if mem_mask is None else mem_mask[:, None, None, :])
        x = x + drop(self.cross_out(a.transpose(1, 2).reshape(a.shape[0], a.shape[2], -1)))
        return x + drop(self.mlp(self.ln3(x)))


class ReasonerModel(nn.Module):
    """Field-conditioned transformer decoder over caption token features."""

    def __init__(self, cfg: ReasonerConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or ReasonerConfig()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.field = nn.Embedding(cfg.num_fields, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_len + 1, cfg.d_model)
        self.text_proj = nn.Linear(cfg.text_dim, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.tok.weight
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def _memory(self, text: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        memory = self.text_proj(text)
        return [blk.memory_kv(memory) for blk in self.blocks]

    def forward(self, ids: torch.Tensor, fields: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor
                ) -> torch.Tensor:
        """Logits (N, L, V) for token ids (N, L) of fields (N,) given caption features (N, T, text_dim)."""
        pos = torch.arange(ids.shape[1], device=ids.device)
        h = self.tok(ids) + self.field(fields)[:, None] + self.pos(pos)[None]
        for blk, kv in zip(self.blocks, self._memory(text), strict=True):
            h = blk(h, kv, text_mask)
        return self.head(self.norm(h))

    def loss(self, targets: torch.Tensor, fields: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor
             ) -> torch.Tensor:
        """Next-token loss (paper Eq. 8) on targets (N, L) that start with BOS and end with EOS then PAD."""
        logits = self(targets[:, :-1], fields, text, text_mask)
        gold = targets[:, 1:].masked_fill(targets[:, 1:] == PAD, -100)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), gold.reshape(-1), ignore_index=-100)

    @torch.inference_mode()
    def generate(self, text: torch.Tensor, text_mask: torch.Tensor, temperature: float = 0.0,
                 generator: torch.Generator | None = None, max_len: int | None = None,
                 fields: list[int] | None = None) -> torch.Tensor:
        """Write the fields (default all) of each caption: ids (B, len(fields), L) without BOS, PAD after EOS.

        Finished sequences leave the batch (their rows are dropped from the caches), so the cost follows the
        mean field length rather than the longest field's.
        """
        b = text.shape[0]
        device = text.device
        wanted = torch.arange(self.cfg.num_fields, device=device) if fields is None else torch.tensor(
            fields, dtype=torch.long, device=device)
        nf = len(wanted)
        max_len = min(max_len or self.cfg.max_len, self.cfg.max_len)
        fields = wanted.repeat(b)
        field_emb = self.field(fields)[:, None]
        mem = [(k.repeat_interleave(nf, 0), v.repeat_interleave(nf, 0)) for k, v in self._memory(text)]
        # Without padding (one caption, or equal lengths) the cross-attention needs no mask: a faster kernel.
        mask = None if bool(text_mask.all()) else text_mask.repeat_interleave(nf, dim=0)
        caches: list[dict] = [{"size": max_len} for _ in self.blocks]
        rows = torch.arange(b * nf, device=device)
        cur = torch.full((b * nf,), BOS, dtype=torch.long, device=device)
        out = torch.full((b * nf, max_len), PAD, dtype=torch.long, device=device)
        alive = torch.ones(len(rows), dtype=torch.bool, device=device)
        steps = 0
        for step in range(max_len):
            h = self.tok(cur)[:, None] + field_emb + self.pos.weight[step][None, None]
            for blk, kv, cache in zip(self.blocks, mem, caches, strict=True):
                h = blk(h, kv, mask, cache)
            logits = self.head(self.norm(h[:, -1]))
            logits[:, PAD] = float("-inf")
            logits[:, BOS] = float("-inf")
            if temperature > 0:
                nxt = (logits / temperature + gumbel_noise(logits.shape, generator, device)).argmax(-1)
            else:
                nxt = logits.argmax(-1)
            out[rows[alive], step] = nxt[alive]
            steps = step + 1
            alive = alive & (nxt != EOS)
            n_alive = int(alive.sum())
            if n_alive == 0:
                break
            # Finished rows leave the batch only once a quarter of it has finished: dropping them at every EOS
            # costs more in re-indexing the caches than their few extra rows cost in the matmuls.
            if n_alive <= 0.75 * len(rows):
                keep = alive
                rows, nxt, field_emb, alive = rows[keep], nxt[keep], field_emb[keep], alive[keep]
                mask = None if mask is None else mask[keep]
                mem = [(k[keep], v[keep]) for k, v in mem]
                for cache in caches:
                    cache["k"], cache["v"] = cache["k"][keep], cache["v"][keep]
            cur = nxt
        return out[:, :steps].reshape(b, nf, -1)
