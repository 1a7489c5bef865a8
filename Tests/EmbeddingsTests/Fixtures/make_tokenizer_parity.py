#!/usr/bin/env python3
"""Writes tokenizer-parity.jsonl: texts and the ids Hugging Face `tokenizers` gives them with
all-MiniLM-L6-v2's tokenizer.json (truncated to 256 tokens, as sentence-transformers does).

The Swift WordPieceTokenizer must give the same ids (TokenizerParityTests). The texts are the
hard cases by construction: the literal special tokens in every position and case, added-token
neighbours, control and format characters, Unicode whitespace, accents and combining marks,
compatibility characters, case mappings that change length, CJK and other scripts, emoji, words
past the 100-character limit, and seeded random mixes of all of them.

    pip install tokenizers
    python3 make_tokenizer_parity.py MODEL_DIR > tokenizer-parity.jsonl
"""
import json
import random
import sys

from tokenizers import Tokenizer

tokenizer = Tokenizer.from_file(sys.argv[1] + "/tokenizer.json")
tokenizer.no_padding()
tokenizer.enable_truncation(max_length=256)

fixed = [
    "hello [CLS] world", "a[SEP]b", "[cls] [MASK]x", "[UNK]", "[PAD][PAD]", "[MASK]", "[MASK] ",
    " [SEP] ", "[SEP][SEP][CLS]", "x[MASK]y[PAD]z", "[Mask] [mask] [MASK", "MASK]", "[[CLS]]",
    "[ CLS]", "[CLS ]", "text [SEP] more text [SEP]", "don't[SEP]stop", "[UNK]nown", "un[UNK]",
    "hello\u0000\u200bworld", "tab\there", "line\nbreak\r\nwindows", "nbsp\u00a0space",
    "ideographic\u3000space", "em\u2003space", "zero\u200dwidth\u200cjoiner", "soft\u00adhyphen",
    "bom\ufeffhere", "replacement\ufffdchar", "bell\u0007and\u001bescape", "\u0085next line",
    "Café au lait", "e\u0301", "naïve coöperate", "Ångström", "İstanbul", "ǅungla", "ΟΔΟΣ ΣΟΦΙΑ",
    "Straße STRASSE", "ﬁ ligature ﬂ", "Ｈｅｌｌｏ ｗｏｒｌｄ", "①②③", "½ ¼", "™ ©", "x² y³",
    "中国人 日本語 한국어", "混合mixed文字", "Привет, мир!", "مرحبا بالعالم", "שלום", "नमस्ते",
    "🙂 emoji 👍🏽 family 👨‍👩‍👧", "a🙂b", "¿Qué? ¡Sí!", "«quotes» “curly” ‘single’", "em—dash – en",
    "$100 + 50% = ?", "C++ && || -> => ::", "snake_case camelCase SCREAMING_CASE", "path/to/file.swift:42",
    "https://example.com/a?b=c&d=e#f", "user@example.com", "0xDEADBEEF 1e-9 3.14159",
    "func fetch(_ request: EdgeRequest) async throws -> EdgeResponse { [CLS] }",
    "a" * 99, "a" * 100, "a" * 101, "supercalifragilistic" * 6, ("word " * 300).strip(),
    "", " ", "   \n\t  ", "[", "]", "##", "##ing", "[SEP]" * 300,
]

fragments = [
    "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", "[cls]", "[Sep]", "[", "]", "CLS", "MASK", "##",
    "hello", "World", "swift", "Queue", "naïve", "ÉCOLE", "straße", "ﬁ", "Ｆｕｌｌ", "中", "国", "한",
    "ж", "ς", "Σ", "İ", "🙂", "👍🏽", "\u0000", "\u200b", "\u00ad", "\u0301", "\u00a0", "\u3000",
    "\t", "\n", " ", "  ", ".", ",", "!", "?", "-", "_", "/", "'", "\"", "(", ")", "{", "}", "<", ">",
    "=", "+", "*", "&", "|", "#", "@", "$", "%", "^", "~", "`", "\\", "123", "4.5", "x", "y", "z",
]

rng = random.Random(20261202)
generated = []
for _ in range(400):
    generated.append("".join(rng.choice(fragments) for _ in range(rng.randint(1, 24))))

for text in fixed + generated:
    print(json.dumps({"text": text, "input_ids": tokenizer.encode(text).ids}, ensure_ascii=False))
