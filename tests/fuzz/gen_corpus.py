#!/usr/bin/env python3
"""gen_corpus.py — write the seed corpora of the fuzz targets.

    python3 tests/fuzz/gen_corpus.py [--shared ../shared]

Writes tests/fuzz/corpus/<target>/seed-*: small valid inputs of every kind
the target reads, plus edge cases (truncations, absurd sizes, wrong types).
Files named crash-* / regress-* in the same directories are inputs that
crashed a target once; they are kept as regressions and never rewritten
here. Pure Python (struct only), deterministic.
"""
import json
import math
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
rng = random.Random(1234)


def out(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def f32(vals):
    return struct.pack("<%df" % len(vals), *vals)


def rand(n, scale=0.5):
    return [rng.uniform(-scale, scale) for _ in range(n)]


# ---- llama2.c checkpoints ---------------------------------------------------

def llama2c(dim=8, hidden=16, layers=1, heads=2, kv=2, vocab=16, seq=8,
            shared=True, extra=0):
    dh = dim // heads
    dkv = dh * kv
    n = (vocab * dim + layers * dim + layers * dim * dim + 2 * layers * dkv * dim +
         layers * dim * dim + layers * dim + 3 * layers * hidden * dim + dim +
         seq * dh + (0 if shared else vocab * dim))
    hdr = struct.pack("<7i", dim, hidden, layers, heads, kv,
                      vocab if shared else -vocab, seq)
    return hdr + f32(rand(n + extra))


def gen_llama2c():
    t = "llama2c"
    out(t, "tiny-shared", llama2c())
    out(t, "tiny-unshared", llama2c(shared=False))
    out(t, "gqa", llama2c(dim=8, heads=4, kv=2, layers=2))
    out(t, "mqa", llama2c(dim=8, heads=4, kv=1))
    good = llama2c()
    out(t, "truncated", good[:-4])
    out(t, "one-float-extra", good + b"\0\0\0\0")
    out(t, "header-only", good[:28])
    out(t, "short-header", good[:27])
    out(t, "empty", b"")
    for name, h in [
        ("dim-huge", (1 << 30, 16, 1, 2, 2, 16, 8)),
        ("dim-negative", (-8, 16, 1, 2, 2, 16, 8)),
        ("heads-zero", (8, 16, 1, 0, 0, 16, 8)),
        ("kv-over-heads", (8, 16, 1, 2, 4, 16, 8)),
        ("odd-head-dim", (6, 16, 1, 2, 2, 16, 8)),
        ("not-divisible", (10, 16, 1, 4, 4, 16, 8)),
        ("vocab-int-min", (8, 16, 1, 2, 2, -(1 << 31), 8)),
        ("vocab-huge", (8, 16, 1, 2, 2, (1 << 31) - 1, 8)),
        ("ctx-huge", (8, 16, 1, 2, 2, 16, 1 << 30)),
        ("layers-huge", (8, 16, 1 << 20, 2, 2, 16, 8)),
        ("all-max", (65536, 1 << 20, 1024, 1024, 1024, 1 << 22, 1 << 20)),
        ("overflow", (65536, 1 << 20, 1024, 2, 2, 1 << 22, 1 << 20)),
    ]:
        out(t, name, struct.pack("<7i", *h) + good[28:])


# ---- GGUF ---------------------------------------------------------------------

GG_U8, GG_I8, GG_U16, GG_I16, GG_U32, GG_I32, GG_F32, GG_BOOL, GG_STR, GG_ARR, \
    GG_U64, GG_I64, GG_F64 = range(13)


def gstr(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("<Q", len(s)) + s


def gval(typ, v):
    fmt = {GG_U8: "B", GG_I8: "b", GG_U16: "H", GG_I16: "h", GG_U32: "I", GG_I32: "i",
           GG_F32: "f", GG_BOOL: "?", GG_U64: "Q", GG_I64: "q", GG_F64: "d"}
    if typ == GG_STR:
        return gstr(v)
    if typ == GG_ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gval(et, x) for x in items)
    return struct.pack("<" + fmt[typ], v)


def half(x):
    return struct.pack("<e", x)


def q8_0(vals):
    """ggml block_q8_0: f16 scale + 32 int8"""
    outb = b""
    for b in range(0, len(vals), 32):
        blk = vals[b:b + 32]
        amax = max(abs(v) for v in blk) or 1.0
        d = amax / 127
        outb += half(d) + bytes((int(round(v / d)) & 0xff) for v in blk)
    return outb


def q4_0(vals):
    outb = b""
    for b in range(0, len(vals), 32):
        blk = vals[b:b + 32]
        mx = max(blk, key=abs) or 1.0
        d = mx / -8
        q = [min(15, max(0, int(v / d + 8.5))) for v in blk]
        outb += half(d) + bytes(q[i] | q[i + 16] << 4 for i in range(16))
    return outb


TYPE_SIZE = {0: (1, 4), 1: (1, 2), 8: (32, 34), 2: (32, 18), 30: (1, 2),
             12: (256, 144), 14: (256, 210), 10: (256, 84), 11: (256, 110),
             13: (256, 176), 15: (256, 292), 3: (32, 20), 6: (32, 22), 7: (32, 24)}


def tensor_bytes(typ, n):
    if typ == 0:
        return f32(rand(n))
    if typ == 1:
        return b"".join(half(v) for v in rand(n))
    if typ == 30:
        return b"".join(struct.pack("<f", v)[2:] for v in rand(n))
    if typ == 8:
        return q8_0(rand(n))
    if typ == 2:
        return q4_0(rand(n))
    blk, size = TYPE_SIZE[typ]
    return bytes(rng.randrange(256) for _ in range(n // blk * size))


def gguf(kvs, tensors=(), version=3, align=32, magic=b"GGUF"):
    """kvs: [(key, type, value)]; tensors: [(name, ne (innermost first), type)]"""
    b = magic + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        b += gstr(k) + struct.pack("<I", t) + gval(t, v)
    datas, off = [], 0
    for name, ne, typ in tensors:
        n = 1
        for x in ne:
            n *= x
        data = tensor_bytes(typ, n)
        b += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", x) for x in ne)
        b += struct.pack("<IQ", typ, off)
        datas.append(data)
        off += len(data)
        off = (off + align - 1) // align * align
    b += b"\0" * ((-len(b)) % align)
    for d in datas:
        b += d + b"\0" * ((-len(d)) % align)
    return b


def spm_vocab_kvs(n_words=20):
    toks = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(256)] + ["\u2581"]
    toks += ["\u2581" + w for w in ["the", "a", "once", "upon", "time", "he", "is"]]
    toks += list("abcdefghijklmnopqrstuvwxyz")[:n_words]
    types = [2, 3, 3] + [6] * 256 + [1] * (len(toks) - 259)
    scores = [0.0] * 259 + [-float(i) for i in range(len(toks) - 259)]
    return [
        ("tokenizer.ggml.model", GG_STR, "llama"),
        ("tokenizer.ggml.tokens", GG_ARR, (GG_STR, toks)),
        ("tokenizer.ggml.scores", GG_ARR, (GG_F32, scores)),
        ("tokenizer.ggml.token_type", GG_ARR, (GG_I32, types)),
        ("tokenizer.ggml.bos_token_id", GG_U32, 1),
        ("tokenizer.ggml.eos_token_id", GG_U32, 2),
        ("tokenizer.ggml.add_bos_token", GG_BOOL, True),
    ], len(toks)


def llama_gguf(V=16, D=8, F=16, L=1, H=2, KV=2, ctx=8, types=None, arch="llama",
               tok=False):
    types = types or {}
    dh = D // H
    kvs = [("general.architecture", GG_STR, arch),
           ("general.name", GG_STR, "fuzz"),
           (arch + ".block_count", GG_U32, L),
           (arch + ".embedding_length", GG_U32, D),
           (arch + ".feed_forward_length", GG_U32, F),
           (arch + ".attention.head_count", GG_U32, H),
           (arch + ".attention.head_count_kv", GG_U32, KV),
           (arch + ".context_length", GG_U32, ctx),
           (arch + ".attention.layer_norm_rms_epsilon", GG_F32, 1e-5),
           (arch + ".rope.dimension_count", GG_U32, dh)]
    if tok:
        vk, V = spm_vocab_kvs()
        kvs += vk
    t = [("token_embd.weight", [D, V], types.get("emb", 0)),
         ("output_norm.weight", [D], 0)]
    for l in range(L):
        w = types.get("w", 0)
        t += [("blk.%d.attn_norm.weight" % l, [D], 0),
              ("blk.%d.attn_q.weight" % l, [D, D], w),
              ("blk.%d.attn_k.weight" % l, [D, dh * KV], w),
              ("blk.%d.attn_v.weight" % l, [D, dh * KV], w),
              ("blk.%d.attn_output.weight" % l, [D, D], w),
              ("blk.%d.ffn_norm.weight" % l, [D], 0),
              ("blk.%d.ffn_gate.weight" % l, [D, F], w),
              ("blk.%d.ffn_up.weight" % l, [D, F], w),
              ("blk.%d.ffn_down.weight" % l, [F, D], w)]
    return gguf(kvs, t)


def gpt2_gguf(V=16, D=8, F=32, L=1, H=2, ctx=8):
    kvs = [("general.architecture", GG_STR, "gpt2"),
           ("gpt2.block_count", GG_U32, L), ("gpt2.embedding_length", GG_U32, D),
           ("gpt2.feed_forward_length", GG_U32, F), ("gpt2.attention.head_count", GG_U32, H),
           ("gpt2.context_length", GG_U32, ctx),
           ("gpt2.attention.layer_norm_epsilon", GG_F32, 1e-5)]
    t = [("token_embd.weight", [D, V], 0), ("position_embd.weight", [D, ctx], 0),
         ("output_norm.weight", [D], 0), ("output_norm.bias", [D], 0)]
    for l in range(L):
        p = "blk.%d." % l
        t += [(p + "attn_norm.weight", [D], 0), (p + "attn_norm.bias", [D], 0),
              (p + "attn_qkv.weight", [D, 3 * D], 0), (p + "attn_qkv.bias", [3 * D], 0),
              (p + "attn_output.weight", [D, D], 0), (p + "attn_output.bias", [D], 0),
              (p + "ffn_norm.weight", [D], 0), (p + "ffn_norm.bias", [D], 0),
              (p + "ffn_up.weight", [D, F], 0), (p + "ffn_up.bias", [F], 0),
              (p + "ffn_down.weight", [F, D], 0), (p + "ffn_down.bias", [D], 0)]
    return gguf(kvs, t)


def bert_gguf(V=16, D=8, F=32, L=1, H=2, ctx=8):
    kvs = [("general.architecture", GG_STR, "bert"),
           ("bert.block_count", GG_U32, L), ("bert.embedding_length", GG_U32, D),
           ("bert.feed_forward_length", GG_U32, F), ("bert.attention.head_count", GG_U32, H),
           ("bert.context_length", GG_U32, ctx),
           ("bert.attention.layer_norm_epsilon", GG_F32, 1e-12)]
    t = [("token_embd.weight", [D, V], 0), ("position_embd.weight", [D, ctx], 0),
         ("token_types.weight", [D, 2], 0), ("token_embd_norm.weight", [D], 0),
         ("token_embd_norm.bias", [D], 0)]
    for l in range(L):
        p = "blk.%d." % l
        t += [(p + "attn_q.weight", [D, D], 0), (p + "attn_q.bias", [D], 0),
              (p + "attn_k.weight", [D, D], 0), (p + "attn_k.bias", [D], 0),
              (p + "attn_v.weight", [D, D], 0), (p + "attn_v.bias", [D], 0),
              (p + "attn_output.weight", [D, D], 0), (p + "attn_output.bias", [D], 0),
              (p + "attn_output_norm.weight", [D], 0), (p + "attn_output_norm.bias", [D], 0),
              (p + "layer_output_norm.weight", [D], 0), (p + "layer_output_norm.bias", [D], 0),
              (p + "ffn_up.weight", [D, F], 0), (p + "ffn_up.bias", [F], 0),
              (p + "ffn_down.weight", [F, D], 0), (p + "ffn_down.bias", [D], 0)]
    return gguf(kvs, t)


def gen_gguf():
    t = "gguf"
    out(t, "llama-f32", llama_gguf())
    out(t, "llama-f32-tokenizer", llama_gguf(tok=True))
    out(t, "llama-gqa", llama_gguf(H=4, KV=2))
    out(t, "llama-f16", llama_gguf(types={"w": 1, "emb": 1}))
    out(t, "llama-bf16", llama_gguf(types={"w": 30}))
    out(t, "llama-q8_0", llama_gguf(D=32, F=32, types={"w": 8}))
    out(t, "llama-q4_0", llama_gguf(D=32, F=32, types={"w": 2}))
    out(t, "qwen2", llama_gguf(arch="qwen2"))
    out(t, "gpt2", gpt2_gguf())
    out(t, "bert", bert_gguf())
    # every quantized type: one block each, random bits
    kq = [(k, v) for k, v in TYPE_SIZE.items()]
    out(t, "all-types", gguf([("general.alignment", GG_U32, 32)],
                             [("t%d" % k, [blk * 1], k) for k, (blk, size) in kq]))
    # every metadata type, arrays, nested arrays
    kvs = [("u8", GG_U8, 200), ("i8", GG_I8, -5), ("u16", GG_U16, 60000),
           ("i16", GG_I16, -300), ("u32", GG_U32, 1 << 31), ("i32", GG_I32, -(1 << 31)),
           ("f32", GG_F32, 1.5), ("bool", GG_BOOL, True), ("str", GG_STR, "h\u00e9llo"),
           ("u64", GG_U64, (1 << 64) - 1), ("i64", GG_I64, -(1 << 63)),
           ("f64", GG_F64, float("nan")), ("arr.i32", GG_ARR, (GG_I32, [1, -2, 3])),
           ("arr.str", GG_ARR, (GG_STR, ["a", "", "ccc"])),
           ("arr.f32", GG_ARR, (GG_F32, [float("inf"), -0.0])),
           ("arr.bool", GG_ARR, (GG_BOOL, [True, False])),
           ("arr.empty", GG_ARR, (GG_U8, [])),
           ("general.alignment", GG_U32, 64)]
    nested = gstr("arr.arr") + struct.pack("<IIQ", GG_ARR, GG_ARR, 2) + \
        gval(GG_ARR, (GG_U8, [1, 2])) + gval(GG_ARR, (GG_STR, ["x"]))
    base = gguf(kvs)
    # splice the nested array key in after the header (n_kv + 1)
    hdr = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs) + 1)
    out(t, "all-kv-types", hdr + nested + base[24:])
    out(t, "v2", gguf(kvs[:5], version=2))
    out(t, "v1", gguf(kvs[:5], version=1))
    out(t, "v4", gguf(kvs[:5], version=4))
    out(t, "big-endian-version", b"GGUF" + struct.pack(">IQQ", 3, 0, 0))
    out(t, "bad-magic", gguf(kvs[:3], magic=b"GGUG"))
    out(t, "empty", b"")
    out(t, "magic-only", b"GGUF")
    out(t, "header-only", b"GGUF" + struct.pack("<IQQ", 3, 0, 0))
    out(t, "n-kv-huge", b"GGUF" + struct.pack("<IQQ", 3, 0, 1 << 62))
    out(t, "n-tensors-huge", b"GGUF" + struct.pack("<IQQ", 3, 1 << 62, 0))
    out(t, "string-len-huge", b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", (1 << 64) - 1) + b"k")
    out(t, "array-len-huge", b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gstr("a") +
        struct.pack("<IIQ", GG_ARR, GG_U64, 1 << 61))
    out(t, "type-unknown", b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gstr("a") + struct.pack("<I", 99) + b"\0" * 8)
    out(t, "dup-key", gguf([("a", GG_U8, 1), ("a", GG_U8, 2)]))
    out(t, "empty-key", gguf([("", GG_U8, 1)]))
    out(t, "nul-in-key", gguf([("a\0b", GG_U8, 1)]))
    out(t, "align-0", gguf([("general.alignment", GG_U32, 0)], [("x", [4], 0)]))
    out(t, "align-3", gguf([("general.alignment", GG_U32, 3)], [("x", [4], 0)]))
    out(t, "align-str", gguf([("general.alignment", GG_STR, "32")], [("x", [4], 0)]))
    good = gguf([], [("a", [4], 0), ("b", [8], 0)])
    out(t, "truncated-data", good[:-8])
    out(t, "truncated-info", good[:40])
    # tensor info edge cases, written by hand
    def one_tensor(name, ne, typ, off, data=b"\0" * 64, ndims=None):
        b = b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + gstr(name)
        b += struct.pack("<I", len(ne) if ndims is None else ndims)
        b += b"".join(struct.pack("<Q", x) for x in ne) + struct.pack("<IQ", typ, off)
        b += b"\0" * ((-len(b)) % 32)
        return b + data
    out(t, "tensor-5d", one_tensor("x", [1, 1, 1, 1, 1], 0, 0))
    out(t, "tensor-0d", one_tensor("x", [], 0, 0))
    out(t, "tensor-zero-dim", one_tensor("x", [0, 4], 0, 0))
    out(t, "tensor-ne-huge", one_tensor("x", [1 << 62, 4], 0, 0))
    out(t, "tensor-ne-overflow", one_tensor("x", [1 << 32, 1 << 32], 0, 0))
    out(t, "tensor-offset-past", one_tensor("x", [4], 0, 1 << 40))
    out(t, "tensor-offset-unaligned", one_tensor("x", [4], 0, 4))
    out(t, "tensor-type-unknown", one_tensor("x", [4], 63, 0))
    out(t, "tensor-type-iq", one_tensor("x", [256], 16, 0, b"\0" * 256))
    out(t, "tensor-q8-partial-block", one_tensor("x", [16], 8, 0))
    out(t, "tensor-dup-name", gguf([], [("a", [4], 0), ("a", [4], 0)]))
    out(t, "tensor-overlap",
        b"GGUF" + struct.pack("<IQQ", 3, 2, 0) + gstr("a") + struct.pack("<IQIQ", 1, 8, 0, 0) +
        gstr("b") + struct.pack("<IQIQ", 1, 8, 0, 0) + b"\0" * 64)
    # vocabulary-only files: each tokenizer kind
    vk, _ = spm_vocab_kvs()
    out(t, "vocab-spm", gguf([("general.architecture", GG_STR, "llama")] + vk))
    gpt_toks = ["a", "b", "c", "ab", "abc", "\u0120", "\u0120a", "<|endoftext|>"]
    out(t, "vocab-gpt2", gguf([
        ("tokenizer.ggml.model", GG_STR, "gpt2"), ("tokenizer.ggml.pre", GG_STR, "gpt-2"),
        ("tokenizer.ggml.tokens", GG_ARR, (GG_STR, gpt_toks)),
        ("tokenizer.ggml.token_type", GG_ARR, (GG_I32, [1] * 7 + [3])),
        ("tokenizer.ggml.merges", GG_ARR, (GG_STR, ["a b", "ab c", "\u0120 a", "x y"])),
        ("tokenizer.ggml.bos_token_id", GG_U32, 7)]))
    out(t, "vocab-gpt2-llama3", gguf([
        ("tokenizer.ggml.model", GG_STR, "gpt2"), ("tokenizer.ggml.pre", GG_STR, "llama3"),
        ("tokenizer.ggml.tokens", GG_ARR, (GG_STR, gpt_toks)),
        ("tokenizer.ggml.merges", GG_ARR, (GG_STR, ["a b"]))]))
    out(t, "vocab-bert", gguf([
        ("tokenizer.ggml.model", GG_STR, "bert"),
        ("tokenizer.ggml.tokens", GG_ARR, (GG_STR, ["[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                                  "\u2581the", "s", "\u2581a"])),
        ("tokenizer.ggml.token_type", GG_ARR, (GG_I32, [3, 2, 3, 3, 1, 1, 1])),
        ("tokenizer.ggml.cls_token_id", GG_U32, 2),
        ("tokenizer.ggml.seperator_token_id", GG_U32, 3)]))
    out(t, "vocab-bad-model", gguf([("tokenizer.ggml.model", GG_STR, "rwkv"),
                                   ("tokenizer.ggml.tokens", GG_ARR, (GG_STR, ["a"]))]))
    out(t, "vocab-scores-short", gguf([
        ("tokenizer.ggml.model", GG_STR, "llama"),
        ("tokenizer.ggml.tokens", GG_ARR, (GG_STR, ["<unk>", "<s>", "</s>", "a"])),
        ("tokenizer.ggml.scores", GG_ARR, (GG_F32, [0.0]))]))
    out(t, "model-dims-huge", gguf([
        ("general.architecture", GG_STR, "llama"), ("llama.block_count", GG_U32, 1 << 24),
        ("llama.embedding_length", GG_U32, 1 << 24), ("llama.feed_forward_length", GG_U32, 1),
        ("llama.attention.head_count", GG_U32, 1), ("llama.context_length", GG_U32, 1)],
        [("token_embd.weight", [4, 4], 0)]))


# ---- safetensors ----------------------------------------------------------------

def st(entries, meta=None, raw_header=None, pad=True):
    """entries: [(name, dtype, shape, bytes)] laid out in order"""
    hdr, data = {}, b""
    for name, dtype, shape, blob in entries:
        hdr[name] = {"dtype": dtype, "shape": shape,
                     "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    if meta is not None:
        hdr["__metadata__"] = meta
    h = raw_header if raw_header is not None else json.dumps(hdr).encode()
    if pad:
        h += b" " * ((-len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + data


def gen_safetensors():
    t = "safetensors"
    out(t, "f32", st([("w", "F32", [2, 3], f32(rand(6)))], {"format": "pt"}))
    out(t, "mixed", st([("a", "F16", [4], b"".join(half(x) for x in rand(4))),
                        ("b", "BF16", [2, 2], b"".join(struct.pack("<f", x)[2:] for x in rand(4))),
                        ("c", "F32", [], f32([1.0])),
                        ("d", "F32", [0, 3], b""),
                        ("e", "I64", [2], struct.pack("<2q", 1, -1)),
                        ("f", "U8", [3], b"abc"), ("g", "BOOL", [1], b"\1"),
                        ("h", "F8_E4M3", [2], b"\1\2"), ("i", "F64", [1], struct.pack("<d", 2.5))],
                       {"format": "pt", "note": "x"}))
    out(t, "4d", st([("x", "F32", [1, 2, 1, 2], f32(rand(4)))]))
    out(t, "empty-header", st([], raw_header=b"{}"))
    out(t, "meta-only", st([], {"a": "b"}))
    out(t, "meta-not-string", st([], {"a": 1}))
    out(t, "5d", st([("x", "F32", [1, 1, 1, 1, 1], f32([0.0]))]))
    out(t, "unknown-dtype", st([("x", "Q4", [1], b"\0\0\0\0")]))
    out(t, "neg-shape", st([], raw_header=b'{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}') + b"\0" * 4)
    out(t, "shape-huge", st([], raw_header=b'{"x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}') + b"\0" * 4)
    out(t, "offsets-reversed", st([], raw_header=b'{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}') + b"\0" * 4)
    out(t, "offsets-overlap", st([], raw_header=b'{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}') + b"\0" * 4)
    out(t, "offsets-gap", st([], raw_header=b'{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}') + b"\0" * 8)
    out(t, "offsets-past", st([], raw_header=b'{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'))
    out(t, "offsets-float", st([], raw_header=b'{"x":{"dtype":"F32","shape":[1],"data_offsets":[0.0,4]}}') + b"\0" * 4)
    out(t, "size-mismatch", st([], raw_header=b'{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}') + b"\0" * 4)
    out(t, "not-json", st([], raw_header=b"{not json"))
    out(t, "json-array", st([], raw_header=b"[1,2]"))
    out(t, "dup-key", st([], raw_header=b'{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}') + b"\0" * 4)
    out(t, "header-len-huge", struct.pack("<Q", (1 << 64) - 1) + b"{}")
    out(t, "header-len-past", struct.pack("<Q", 100) + b"{}")
    out(t, "short", b"\x02\0\0")
    out(t, "empty", b"")
    out(t, "nul-in-name", st([], raw_header=b'{"a\\u0000b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}') + b"\0" * 4)
    # sharded index files (fed to st_open next to two valid shards)
    out(t, "index", json.dumps({"metadata": {"total_size": 16},
                                "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                                               "b.weight": "model-00002-of-00002.safetensors"}}))
    out(t, "index-missing-tensor", json.dumps({"weight_map": {"z": "model-00001-of-00002.safetensors"}}))
    out(t, "index-traversal", json.dumps({"weight_map": {"a.weight": "../model-00001-of-00002.safetensors"}}))
    out(t, "index-no-shard", json.dumps({"weight_map": {"a.weight": "nope.safetensors"}}))
    out(t, "index-bad", json.dumps({"weight_map": [1, 2]}))


# ---- Hugging Face directories ---------------------------------------------------

SEP = b"\n=====\n"


def hf_llama_st(V=16, D=8, F=16, L=1, H=2, KV=2, tie=False, bias=False):
    dh = D // H
    e = [("model.embed_tokens.weight", [V, D]), ("model.norm.weight", [D])]
    if not tie:
        e.append(("lm_head.weight", [V, D]))
    for l in range(L):
        p = "model.layers.%d." % l
        e += [(p + "input_layernorm.weight", [D]), (p + "self_attn.q_proj.weight", [D, D]),
              (p + "self_attn.k_proj.weight", [dh * KV, D]), (p + "self_attn.v_proj.weight", [dh * KV, D]),
              (p + "self_attn.o_proj.weight", [D, D]), (p + "post_attention_layernorm.weight", [D]),
              (p + "mlp.gate_proj.weight", [F, D]), (p + "mlp.up_proj.weight", [F, D]),
              (p + "mlp.down_proj.weight", [D, F])]
        if bias:
            e += [(p + "self_attn.q_proj.bias", [D]), (p + "self_attn.k_proj.bias", [dh * KV]),
                  (p + "self_attn.v_proj.bias", [dh * KV])]
    return st([(n, "F32", s, f32(rand(math.prod(s)))) for n, s in e], {"format": "pt"})


def hf_gpt2_st(V=16, D=8, F=32, L=1, P=8):
    e = [("wte.weight", [V, D]), ("wpe.weight", [P, D]), ("ln_f.weight", [D]), ("ln_f.bias", [D])]
    for l in range(L):
        p = "h.%d." % l
        e += [(p + "ln_1.weight", [D]), (p + "ln_1.bias", [D]),
              (p + "attn.c_attn.weight", [D, 3 * D]), (p + "attn.c_attn.bias", [3 * D]),
              (p + "attn.c_proj.weight", [D, D]), (p + "attn.c_proj.bias", [D]),
              (p + "ln_2.weight", [D]), (p + "ln_2.bias", [D]),
              (p + "mlp.c_fc.weight", [D, F]), (p + "mlp.c_fc.bias", [F]),
              (p + "mlp.c_proj.weight", [F, D]), (p + "mlp.c_proj.bias", [D])]
    return st([(n, "F16", s, b"".join(half(x) for x in rand(math.prod(s)))) for n, s in e])


def hf_bert_st(V=16, D=8, F=32, L=1, P=8):
    e = [("embeddings.word_embeddings.weight", [V, D]),
         ("embeddings.position_embeddings.weight", [P, D]),
         ("embeddings.token_type_embeddings.weight", [2, D]),
         ("embeddings.LayerNorm.weight", [D]), ("embeddings.LayerNorm.bias", [D])]
    for l in range(L):
        p = "encoder.layer.%d." % l
        for n in ["attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense"]:
            e += [(p + n + ".weight", [D, D]), (p + n + ".bias", [D])]
        e += [(p + "attention.output.LayerNorm.weight", [D]), (p + "attention.output.LayerNorm.bias", [D]),
              (p + "intermediate.dense.weight", [F, D]), (p + "intermediate.dense.bias", [F]),
              (p + "output.dense.weight", [D, F]), (p + "output.dense.bias", [D]),
              (p + "output.LayerNorm.weight", [D]), (p + "output.LayerNorm.bias", [D])]
    return st([("bert." + n, "BF16", s, b"".join(struct.pack("<f", x)[2:] for x in rand(math.prod(s))))
               for n, s in e])


def tok_json_bpe(extra=None):
    vocab = {c: i for i, c in enumerate(["a", "b", "c", "ab", "abc", "\u0120", "\u0120a", "h", "e", "he"])}
    t = {"version": "1.0",
         "added_tokens": [{"id": 10, "content": "<|endoftext|>", "special": True,
                           "single_word": False, "lstrip": False, "rstrip": False,
                           "normalized": False}],
         "normalizer": None,
         "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False,
                           "trim_offsets": True, "use_regex": True},
         "post_processor": {"type": "ByteLevel", "add_prefix_space": True,
                            "trim_offsets": False, "use_regex": True},
         "decoder": {"type": "ByteLevel"},
         "model": {"type": "BPE", "dropout": None, "unk_token": None, "vocab": vocab,
                   "merges": ["a b", "ab c", "\u0120 a", "h e"]}}
    if extra:
        t.update(extra)
    return json.dumps(t, ensure_ascii=False)


def tok_json_wordpiece():
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the",
                                         "cat", "##s", "a", "##a", "!", "caf", "##e"])}
    return json.dumps({
        "version": "1.0",
        "added_tokens": [{"id": i, "content": w, "special": True, "single_word": False,
                          "lstrip": False, "rstrip": False, "normalized": False}
                         for w, i in vocab.items() if w.startswith("[")],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                           "pair": [],
                           "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                                              "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}})


def hf(parts):
    """parts: config, tokenizer.json, tokenizer_config, vocab.json, merges, vocab.txt, safetensors"""
    b = []
    for p in parts:
        b.append(p.encode() if isinstance(p, str) else p)
    return SEP.join(b)


def gen_hf(shared):
    t = "hf"
    llama_cfg = json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                            "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
                            "num_attention_heads": 2, "num_key_value_heads": 2,
                            "vocab_size": 16, "max_position_embeddings": 8,
                            "rms_norm_eps": 1e-6, "tie_word_embeddings": False})
    tcfg = json.dumps({"bos_token": "a", "eos_token": "<|endoftext|>", "add_bos_token": True})
    out(t, "llama-bpe", hf([llama_cfg, tok_json_bpe(), tcfg, "", "", "", hf_llama_st()]))
    out(t, "llama-tied", hf([llama_cfg.replace('"tie_word_embeddings": false',
                                                '"tie_word_embeddings": true'),
                             tok_json_bpe(), tcfg, "", "", "", hf_llama_st(tie=True)]))
    qwen_cfg = llama_cfg.replace('"llama"', '"qwen2"')
    out(t, "qwen2-bias", hf([qwen_cfg, tok_json_bpe(), "", "", "", "", hf_llama_st(bias=True)]))
    mistral_cfg = json.loads(llama_cfg)
    mistral_cfg.update(model_type="mistral", sliding_window=4, num_key_value_heads=1)
    out(t, "mistral-gqa", hf([json.dumps(mistral_cfg), tok_json_bpe(), "", "", "", "",
                              hf_llama_st(KV=1)]))
    gpt2_cfg = json.dumps({"model_type": "gpt2", "n_embd": 8, "n_layer": 1, "n_head": 2,
                           "vocab_size": 16, "n_positions": 8, "n_inner": 32,
                           "activation_function": "gelu_new"})
    vocab_json = json.dumps({"a": 0, "b": 1, "ab": 2, "\u0120": 3, "\u0120a": 4, "<|endoftext|>": 5})
    merges = "#version: 0.2\na b\n\u0120 a\n"
    out(t, "gpt2-vocab-json", hf([gpt2_cfg, "", "", vocab_json, merges, "", hf_gpt2_st()]))
    out(t, "gpt2-tokenizer-json", hf([gpt2_cfg, tok_json_bpe(), "", vocab_json, merges, "",
                                      hf_gpt2_st()]))
    bert_cfg = json.dumps({"model_type": "bert", "hidden_size": 8, "intermediate_size": 32,
                           "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 16,
                           "max_position_embeddings": 8, "type_vocab_size": 2,
                           "hidden_act": "gelu", "position_embedding_type": "absolute"})
    vocab_txt = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\n##s\na\n!\n"
    out(t, "bert-wordpiece", hf([bert_cfg, tok_json_wordpiece(), json.dumps({"do_lower_case": True}),
                                 "", "", vocab_txt, hf_bert_st()]))
    out(t, "bert-vocab-txt", hf([bert_cfg, "", json.dumps({"do_lower_case": False}), "", "",
                                 vocab_txt, hf_bert_st()]))
    # split regex and normalizer sequence
    seq = tok_json_bpe({
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}| ?\\p{L}+|\\s+"},
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}})
    out(t, "split-regex", hf([llama_cfg, seq, "", "", "", "", hf_llama_st()]))
    bad_re = tok_json_bpe({"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(?<=a"},
                                             "behavior": "Isolated", "invert": False}})
    out(t, "bad-regex", hf([llama_cfg, bad_re]))
    out(t, "config-only", hf([llama_cfg]))
    out(t, "empty", b"")
    out(t, "config-not-object", hf(["[1]"]))
    out(t, "config-bad-json", hf(['{"model_type": "llama",']))
    for name, patch in [("dims-huge", {"hidden_size": 1 << 24}), ("dims-negative", {"hidden_size": -8}),
                        ("dims-float", {"hidden_size": 8.5}), ("heads-zero", {"num_attention_heads": 0}),
                        ("kv-mismatch", {"num_key_value_heads": 3}), ("rope-scaling", {"rope_scaling": {"type": "linear"}}),
                        ("head-dim", {"head_dim": 3}), ("type-t5", {"model_type": "t5"}),
                        ("no-type", {"model_type": None})]:
        c = json.loads(llama_cfg)
        c.update(patch)
        out(t, "cfg-" + name, hf([json.dumps(c), tok_json_bpe(), "", "", "", "", hf_llama_st()]))
    out(t, "st-wrong-shape", hf([llama_cfg, "", "", "", "", "", hf_llama_st(D=16)]))
    out(t, "tok-merge-unknown", hf([llama_cfg, tok_json_bpe({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a z"]}})]))
    out(t, "tok-vocab-dup-id", hf([llama_cfg, tok_json_bpe({"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}})]))
    out(t, "tok-id-huge", hf([llama_cfg, tok_json_bpe({"model": {"type": "BPE", "vocab": {"a": 1 << 40}, "merges": []}})]))
    out(t, "tok-unigram", hf([llama_cfg, json.dumps({"model": {"type": "Unigram", "vocab": [["a", -1.0]]}})]))
    if shared:
        for m in ["tiny-gpt2", "tiny-bert", "tiny-bart", "tiny-t5"]:
            p = os.path.join(shared, "models", m, "hf")
            parts = []
            for f in ["config.json", "tokenizer_config.json"]:
                fp = os.path.join(p, f)
                parts.append(open(fp, "rb").read() if os.path.exists(fp) else b"")
            out(t, "shared-config-" + m, hf([parts[0], "", parts[1]]))


# ---- tokenizer.bin -----------------------------------------------------------------

def tokbin(pieces, max_len=16):
    b = struct.pack("<i", max_len)
    for s, score in pieces:
        if isinstance(s, str):
            s = s.encode()
        b += struct.pack("<fi", score, len(s)) + s
    return b


def gen_tokbin(shared):
    t = "tokbin"
    base = [("<unk>", 0.0), ("\n<s>\n", 0.0), ("\n</s>\n", 0.0)] + \
        [("<0x%02X>" % i, 0.0) for i in range(256)]
    words = [(" the", -1.0), ("the", -2.0), (" a", -3.0), ("a", -4.0), ("t", -5.0), ("h", -6.0),
             ("e", -7.0), (" ", -8.0), ("he", -9.0), ("caf\u00e9", -10.0), ("\u00e9", -11.0)]
    out(t, "small", tokbin(base + words))
    out(t, "no-bytes", tokbin(base[:3] + words))
    out(t, "no-space", tokbin(base + [w for w in words if w[0] != " "]))
    out(t, "dup-pieces", tokbin(base + words + words))
    out(t, "nan-scores", tokbin(base[:3] + [("a", float("nan")), ("b", float("inf")), ("ab", float("-inf"))]))
    out(t, "empty-piece", tokbin(base[:3] + [("", 0.0), ("a", 0.0)]))
    out(t, "three", tokbin(base[:3]))
    out(t, "two", tokbin(base[:2]))
    out(t, "len-negative", tokbin(base[:3]) + struct.pack("<fi", 0.0, -1))
    out(t, "len-huge", tokbin(base[:3]) + struct.pack("<fi", 0.0, 65537) + b"x" * 16)
    out(t, "len-past-end", tokbin(base[:3]) + struct.pack("<fi", 0.0, 100) + b"x")
    out(t, "nul-in-piece", tokbin(base[:3] + [("a\0b", 0.0)]))
    out(t, "trailing-bytes", tokbin(base[:3] + words) + b"\1\2")
    out(t, "header-only", struct.pack("<i", 16))
    out(t, "empty", b"")
    out(t, "malformed-byte-pieces", tokbin(base[:3] + [("<0x4>", 0.0), ("<0xZZ>", 0.0), ("<0x41", 0.0),
                                                        ("<0X41>", 0.0), ("<0x41>x", 0.0)]))
    if shared:
        p = os.path.join(shared, "models", "stories260K", "tok512.bin")
        if os.path.exists(p):
            out(t, "stories260K-tok512", open(p, "rb").read())


# ---- tokenize (selector, flags, text) -------------------------------------------------

def gen_tokenize():
    t = "tokenize"
    texts = [
        b"Once upon a time, there was a little girl named Lily.",
        b"hello world  the   and\n\nonce\tupon 123456 12 3",
        "caf\u00e9 na\u00efve \u00c5ngstr\u00f6m \u4e2d\u6587 \U0001f600 \u2581x".encode(),
        b"\xff\xfe\x80 invalid \xc3 utf8 \xed\xa0\x80 \xf4\x90\x80\x80",
        b"<s> </s> <|endoftext|> [CLS] [SEP] [MASK] <user> <unk>",
        b"   leading and trailing   ",
        b"don't I'll we're they've she'd it's",
        b"\x00nul\x00bytes\x00",
        b"",
        b"a" * 300,
        b" " * 200,
        b"\r\n\r\n\n\r",
        "\u0120\u010a".encode(),
    ]
    n = 0
    for sel in range(20):
        for flags in (0, 1, 2, 3, 4 | 1, 8 | 3):
            txt = texts[(sel * 7 + flags) % len(texts)]
            out(t, "%02d-%d-%d" % (sel, flags, n), bytes([sel, flags]) + txt)
            n += 1
    for i, txt in enumerate(texts):
        out(t, "all-%02d" % i, bytes([i * 3 % 256, 3]) + txt)


# ---- dataset -----------------------------------------------------------------------

def gen_dataset():
    t = "dataset"
    TXT, JSONL, BODY, TEXT = 0, 1, 2, 4
    out(t, "txt", bytes([TXT]) + b"first line\nsecond line\n\n  \nthird\r\nlast without newline")
    out(t, "txt-utf8", bytes([TXT]) + "caf\u00e9\n\u4e2d\u6587\n\U0001f600\n".encode())
    out(t, "txt-invalid-utf8", bytes([TXT]) + b"ok\n\xff\xfe bad\n")
    out(t, "txt-nul", bytes([TXT]) + b"a\0b\nc\n")
    out(t, "txt-empty", bytes([TXT]))
    out(t, "txt-blank", bytes([TXT]) + b"\n\n \t\n")
    out(t, "txt-long-line", bytes([TXT]) + b"x" * 5000 + b"\n")
    out(t, "jsonl", bytes([JSONL]) + b'{"text": "hello"}\n{"text": "caf\\u00e9 \\n x"}\n\n{"text": ""}\n')
    out(t, "jsonl-tokens", bytes([JSONL]) + b'{"tokens": [1, 2, 3]}\n{"tokens": [0]}\n')
    out(t, "jsonl-tokens-bad", bytes([JSONL]) + b'{"tokens": [1, -2]}\n')
    out(t, "jsonl-tokens-huge", bytes([JSONL]) + b'{"tokens": [2147483648]}\n')
    out(t, "jsonl-tokens-float", bytes([JSONL]) + b'{"tokens": [1.5]}\n')
    out(t, "jsonl-tokens-empty", bytes([JSONL]) + b'{"tokens": []}\n')
    out(t, "jsonl-tokens-not-list", bytes([JSONL]) + b'{"tokens": "abc"}\n')
    out(t, "jsonl-field", bytes([JSONL | BODY]) + b'{"body": "x", "text": "y"}\n{"text": "no body"}\n')
    out(t, "jsonl-not-object", bytes([JSONL]) + b'[1, 2]\n')
    out(t, "jsonl-bad-json", bytes([JSONL]) + b'{"text": "unterminated\n')
    out(t, "jsonl-text-not-string", bytes([JSONL]) + b'{"text": 5}\n')
    out(t, "jsonl-nul-escape", bytes([JSONL]) + b'{"text": "a\\u0000b"}\n')
    out(t, "jsonl-lone-surrogate", bytes([JSONL]) + b'{"text": "\\ud800"}\n')
    out(t, "jsonl-crlf", bytes([JSONL]) + b'{"text": "a"}\r\n{"text": "b"}\r\n')
    out(t, "jsonl-deep", bytes([JSONL]) + b'{"x": ' + b"[" * 2000 + b"]" * 2000 + b', "text": "a"}\n')
    out(t, "jsonl-dup-key", bytes([JSONL]) + b'{"text": "a", "text": "b"}\n')
    out(t, "text-one", bytes([TEXT]) + b"a single sample")
    out(t, "text-invalid", bytes([TEXT]) + b"bad \xff utf8")
    out(t, "text-empty", bytes([TEXT]))


# ---- blob ----------------------------------------------------------------------------

F32, F16, F16Z, BAD = 0, 1, 2, 3
TRI = 4


def zstd_raw(payload, announce=None, checksum=False):
    """one zstd frame with raw blocks; announce = content size in the header"""
    size = len(payload) if announce is None else announce
    fhd = (3 << 6) | (1 << 5) | (4 if checksum else 0)
    b = struct.pack("<IB", 0xFD2FB528, fhd) + struct.pack("<Q", size)
    pos = 0
    while True:
        chunk = payload[pos:pos + 65536]
        pos += len(chunk)
        last = pos >= len(payload)
        b += struct.pack("<I", (len(chunk) << 3) | (0 << 1) | int(last))[:3] + chunk
        if last:
            break
    if checksum:
        b += b"\0\0\0\0"
    return b


def blob(enc, tri, nq, nk, data):
    return bytes([enc | (TRI if tri else 0)]) + struct.pack("<ii", nq, nk) + data


def attn(n, tri):
    rows = []
    for i in range(n):
        w = [rng.random() for _ in range(i + 1 if tri else n)]
        s = sum(w)
        rows += [x / s for x in w]
    return rows


def gen_blob():
    t = "blob"
    for n in (1, 3, 8):
        for tri in (False, True):
            vals = attn(n, tri)
            out(t, "f32-%s-%d" % ("tri" if tri else "full", n), blob(F32, tri, n, n, f32(vals)))
            h = b"".join(half(v) for v in vals)
            out(t, "f16-%s-%d" % ("tri" if tri else "full", n), blob(F16, tri, n, n, h))
            out(t, "f16z-%s-%d" % ("tri" if tri else "full", n), blob(F16Z, tri, n, n, zstd_raw(h)))
    out(t, "f32-rect", blob(F32, False, 2, 5, f32(rand(10))))
    special = [float("nan"), float("inf"), float("-inf"), -0.0, 1e-45, 3.4e38, 0.0, 1.0, -1.0]
    out(t, "f32-special", blob(F32, False, 3, 3, f32(special)))
    hs = b"".join(half(v) for v in [float("nan"), float("inf"), float("-inf"), -0.0, 6e-8, 65504.0])
    out(t, "f16-special", blob(F16, False, 2, 3, hs))
    out(t, "f16-nan-payloads", blob(F16, False, 1, 4, bytes([0x01, 0x7c, 0xff, 0x7f, 0x01, 0xfe, 0x00, 0x7e])))
    out(t, "f32-short", blob(F32, False, 3, 3, f32(rand(8))))
    out(t, "f32-long", blob(F32, False, 3, 3, f32(rand(10))))
    out(t, "f16-odd-bytes", blob(F16, True, 2, 2, b"\0\0\0\0\0"))
    out(t, "f32-empty", blob(F32, False, 1, 1, b""))
    out(t, "tri-not-square", blob(F32, True, 2, 3, f32(rand(6))))
    for name, nq, nk in [("zero", 0, 4), ("negative", -1, 4), ("both-negative", -1, -1),
                         ("huge", 1 << 30, 1), ("int-min", -(1 << 31), -(1 << 31)),
                         ("over-max", (1 << 20) + 1, 1), ("max-by-one", 1 << 20, 1),
                         ("tri-max", 1 << 20, 1 << 20), ("product-overflow", 1 << 20, 1 << 20)]:
        out(t, "dims-" + name, blob(F32 if "tri" not in name else F32, "tri" in name, nq, nk, f32(rand(4))))
    out(t, "enc-invalid", blob(BAD, False, 1, 1, f32([1.0])))
    h = b"".join(half(v) for v in rand(9))
    out(t, "zstd-announce-more", blob(F16Z, False, 3, 3, zstd_raw(h, announce=36)))
    out(t, "zstd-announce-less", blob(F16Z, False, 3, 3, zstd_raw(h, announce=10)))
    out(t, "zstd-announce-huge", blob(F16Z, False, 1 << 10, 1 << 10, zstd_raw(h, announce=1 << 21)))
    out(t, "zstd-truncated", blob(F16Z, False, 3, 3, zstd_raw(h)[:-3]))
    out(t, "zstd-two-frames", blob(F16Z, False, 3, 3, zstd_raw(h[:8]) + zstd_raw(h[8:])))
    out(t, "zstd-garbage", blob(F16Z, False, 3, 3, b"\x28\xb5\x2f\xfd" + bytes(range(30))))
    out(t, "zstd-not-zstd", blob(F16Z, False, 3, 3, h))
    out(t, "zstd-checksum-bad", blob(F16Z, False, 3, 3, zstd_raw(h, checksum=True)))
    out(t, "zstd-skippable", blob(F16Z, False, 3, 3, struct.pack("<II", 0x184D2A50, 4) + b"abcd" + zstd_raw(h)))


def main():
    shared = None
    if "--shared" in sys.argv:
        shared = sys.argv[sys.argv.index("--shared") + 1]
    for d in os.listdir(CORPUS) if os.path.isdir(CORPUS) else []:
        for f in os.listdir(os.path.join(CORPUS, d)):
            if f.startswith("seed-"):
                os.remove(os.path.join(CORPUS, d, f))
    gen_llama2c()
    gen_gguf()
    gen_safetensors()
    gen_hf(shared)
    gen_tokbin(shared)
    gen_tokenize()
    gen_dataset()
    gen_blob()
    for d in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, d))
        size = sum(os.path.getsize(os.path.join(CORPUS, d, f)) for f in files)
        print("%-12s %4d files %8d bytes" % (d, len(files), size))


if __name__ == "__main__":
    main()
