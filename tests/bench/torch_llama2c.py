#!/usr/bin/env python3
"""PyTorch eager reference for the recording benchmark.

Loads a llama2.c checkpoint (the same file attnscope reads), runs the
forward pass over T random tokens with every attention map materialised
(softmax(QK^T / sqrt(dh) + causal mask) kept as a tensor, as
TransformerLens does), and prints one line per round:
    tokens_per_second <float>
Usage: torch_llama2c.py MODEL.bin T ROUNDS THREADS
"""
import struct
import sys
import time

import numpy as np
import torch


def load(path):
    with open(path, "rb") as f:
        dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack("7i", f.read(28))
        data = np.frombuffer(f.read(), dtype="<f4")
    shared = vocab > 0
    vocab = abs(vocab)
    hs = dim // n_heads
    kv_dim = hs * n_kv
    o = 0

    def take(*shape):
        nonlocal o
        n = int(np.prod(shape))
        t = torch.from_numpy(data[o:o + n].copy()).reshape(shape)
        o += n
        return t

    w = {}
    w["emb"] = take(vocab, dim)
    w["rms_att"] = take(n_layers, dim)
    w["wq"] = take(n_layers, dim, dim)
    w["wk"] = take(n_layers, kv_dim, dim)
    w["wv"] = take(n_layers, kv_dim, dim)
    w["wo"] = take(n_layers, dim, dim)
    w["rms_ffn"] = take(n_layers, dim)
    w["w1"] = take(n_layers, hidden, dim)
    w["w2"] = take(n_layers, dim, hidden)
    w["w3"] = take(n_layers, hidden, dim)
    w["rms_final"] = take(dim)
    take(seq_len * hs)  # freq_cis real + imag
    w["wcls"] = w["emb"] if shared else take(vocab, dim)
    cfg = dict(dim=dim, n_layers=n_layers, n_heads=n_heads, n_kv=n_kv, hs=hs)
    return cfg, w


def rmsnorm(x, g):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * g


def forward(cfg, w, tokens, cos, sin):
    T = tokens.shape[0]
    H, Hkv, hs = cfg["n_heads"], cfg["n_kv"], cfg["hs"]
    x = w["emb"][tokens]
    mask = torch.full((T, T), float("-inf")).triu(1)
    maps = []
    for l in range(cfg["n_layers"]):
        xn = rmsnorm(x, w["rms_att"][l])
        q = (xn @ w["wq"][l].T).view(T, H, hs)
        k = (xn @ w["wk"][l].T).view(T, Hkv, hs)
        v = (xn @ w["wv"][l].T).view(T, Hkv, hs)

        def rope(t):  # adjacent pairs, as llama2.c
            t0, t1 = t[..., 0::2], t[..., 1::2]
            r = torch.empty_like(t)
            r[..., 0::2] = t0 * cos - t1 * sin
            r[..., 1::2] = t0 * sin + t1 * cos
            return r

        q, k = rope(q), rope(k)
        rep = H // Hkv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        scores = torch.einsum("thd,shd->hts", q, k) / hs ** 0.5 + mask
        att = torch.softmax(scores, dim=-1)  # [H, T, T], kept
        maps.append(att)
        z = torch.einsum("hts,shd->thd", att, v).reshape(T, -1)
        x = x + z @ w["wo"][l].T
        xn = rmsnorm(x, w["rms_ffn"][l])
        h = torch.nn.functional.silu(xn @ w["w1"][l].T) * (xn @ w["w3"][l].T)
        x = x + h @ w["w2"][l].T
    logits = rmsnorm(x, w["rms_final"]) @ w["wcls"].T
    return logits, maps


def main():
    path, T, rounds, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    cfg, w = load(path)
    hs = cfg["hs"]
    freqs = 1.0 / (10000.0 ** (torch.arange(0, hs, 2).float() / hs))
    ang = torch.outer(torch.arange(T).float(), freqs)[:, None, :]
    cos, sin = torch.cos(ang), torch.sin(ang)
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, w["emb"].shape[0], (T,), generator=g)
    with torch.no_grad():
        forward(cfg, w, tokens, cos, sin)  # warm-up
        for _ in range(rounds):
            t0 = time.perf_counter()
            forward(cfg, w, tokens, cos, sin)
            print("tokens_per_second", T / (time.perf_counter() - t0), flush=True)


if __name__ == "__main__":
    main()
