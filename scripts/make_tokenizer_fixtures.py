#!/usr/bin/env python3
"""Builds tests/fixtures/tokenizer/: a small byte-level BPE tokenizer configured like
DeepSeek-V3's tokenizer.json (empty normalizer Sequence; a Sequence pre-tokenizer of three
isolating Split regexes -- digits, CJK, punctuation/letters -- then ByteLevel without its
own regex; ByteLevel decoder), with DeepSeek's special tokens, plus the ids and decoded
texts that Hugging Face `tokenizers` gives for a test corpus.

Texts are also stored as hex UTF-8 (`*_hex`), since C JSON strings stop at a NUL.

Run from the repository root:  python3 scripts/make_tokenizer_fixtures.py
It needs only `tokenizers` (pip) and reads nothing from the network. The training text is
made here from fixed strings and the shared DeepSeek golden vectors, so the output depends
only on the tokenizers version (recorded in expected.json); the committed
fixture is what the C tests compare against, and regenerating is only needed when the
corpus below changes.
"""
import json
import os
import random
import sys

import tokenizers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")

# DeepSeek-V3's three Split patterns, as they appear in its tokenizer.json.
DIGITS = "\\p{N}{1,3}"
CJK = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"
MAIN = ("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
        " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+")

SPECIAL = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>",
           "<｜User｜>", "<｜Assistant｜>", "<｜fim▁hole｜>", "<｜fim▁begin｜>", "<｜fim▁end｜>",
           "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"]
# Added (non-special, normalized) tokens, as DeepSeek-V3.2 adds its thinking and DSML tags.
ADDED = ["<think>", "</think>", "｜DSML｜", "<｜DSML｜function_calls>", "</｜DSML｜function_calls>",
         "<｜DSML｜invoke", "</｜DSML｜invoke>", "<｜DSML｜parameter", "</｜DSML｜parameter>",
         "<function_results>", "</function_results>"]

TRAIN_TEXT = [
    "The quick brown fox jumps over the lazy dog. It's 2024-01-16 and we're at 14:30:00.",
    "What's the weather tomorrow in San Francisco and New York? Let me check the forecast.",
    "今天天气很好，我们去公园散步吧。明天的天气预报说会下雨，请带上雨伞。",
    "北京和上海是中国最大的城市。旧金山和纽约的天气怎么样？",
    "こんにちは、世界。ひらがなとカタカナ、テスト、トークナイザー。",
    "Привет, мир! Это тест токенизатора. Ελληνικά κείμενα εδώ.",
    "def main(argc, argv):\n    for i in range(10):\n        print(f\"{i}: {argv[i]!r}\")\n    return 0\n",
    "if (x != NULL && y->len >= 128) { return EF_EINVAL; } // comment\n",
    "    \t  \n\n\n   indented  lines   with   runs   of   spaces\r\n\r\n",
    "Numbers: 1 12 123 1234 12345 3.14159 1e-9 0x1F 1,000,000 ١٢٣ ⅷ ½",
    "Emoji: 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ ✨",
]


CODE_TEXT = [
    "#include <stdio.h>\n#include <string.h>\n\nstatic int add(int a, int b)\n{\n    return a + b;\n}\n",
    "int main(int argc, char **argv)\n{\n    for (int i = 0; i < argc; i++)\n        printf(\"%s\\n\", argv[i]);\n    return 0;\n}\n",
    "import json\nimport os\n\n\ndef load(path):\n    with open(path, encoding=\"utf-8\") as f:\n        return json.load(f)\n",
    "class Tokenizer:\n    def __init__(self, vocab, merges):\n        self.vocab = vocab\n        self.merges = merges\n",
    "const x = await fetch(`/api/v1/items?id=${id}`); if (!x.ok) { throw new Error(x.status); }",
    "SELECT id, name FROM tasks WHERE env = 'travel' AND reward >= 0.5 ORDER BY id;",
    "{\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", \"properties\": {}}}",
]


def training_corpus():
    """Fixed text only, so the fixture is the same on every machine."""
    texts = (list(TRAIN_TEXT) + CODE_TEXT) * 20
    for path in ("../shared/fixtures/dsv32-encoding/test_output.txt",
                 "../shared/fixtures/dsv32-encoding/zh/test_output.txt"):
        p = os.path.join(ROOT, path)
        if os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                texts.append(f.read())
    return texts


def test_corpus():
    rng = random.Random(1234)
    cases = [
        "", " ", "  ", "\n", "\r\n", "\t", "a", "Hello, world!", " Hello world",
        "Hello   world    with     runs", "trailing spaces   ", "   leading spaces",
        "tabs\tand\ttabs\t\t\tend\t", "lines\n\n\nmany\n \n  \nnewlines\r\n\r\n",
        "1", "12", "123", "1234", "1234567890", "3.14159265358979", "x=1e-10; y=0x1F;",
        "١٢٣٤٥ ߁߂ ૧૨૩ ⅠⅡⅢⅣ ①②③ ½¾ ²³ 𝟙𝟚𝟛",
        "今天天气很好", "我们去公园散步吧。明天的天气预报说会下雨！",
        "旧金山明天的天气：多云，最高65°F。", "中文English混合mixed文本text",
        "こんにちは世界", "カタカナとひらがな、漢字。", "한국어 텍스트 테스트",
        "😀", "😀😃😄", "👍🏽 👨‍👩‍👧‍👦 🇫🇷🇩🇪 ❤️ ✨🎉", "emoji😀inside😃words",
        "def f(x):\n    return x ** 2  # square\n",
        "int main(void) {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}\n",
        "for (size_t i = 0; i < n; i++) { a[i] = b[i] << 2 | c[i] >> 3; }",
        "{\"key\": [1, 2.5, true, null], \"nested\": {\"a\": \"b\"}}",
        "https://example.com/path?q=1&r=two#frag", "user@example.org",
        "Привет, мир! Ελληνικά. עברית. العربية. हिन्दी नमस्ते. ไทย สวัสดี",
        "café naïve coöperate résumé", "e\u0301 a\u0300\u0301 \u0301start",
        "ǅungla ʰello ﬁne Ⅻ", "It's we're they'll I'd you've",
        "!!!???...,,,;;;", "--flag=value", "$HOME/.config", "a/b\\c|d",
        "\u00a0nbsp\u2003emsp\u3000ideo\u200bzwsp\ufeffbom",
        "\u0000nul\u0001ctl\u007fdel", "\ufffd replacement \ufffd",
        "\ue000private\U000F0000use", "\u2028line\u2029para\u0085nel",
        "<｜begin▁of▁sentence｜>Hello<｜end▁of▁sentence｜>",
        "<｜User｜>What's up?<｜Assistant｜><think>hmm</think>Fine.<｜end▁of▁sentence｜>",
        "<｜User｜><｜User｜>back to back<｜Assistant｜>",
        "text<think>inner</think>text", "<thin k> <think", "</think></think>",
        "<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"get_weather\">\n"
        "<｜DSML｜parameter name=\"location\" string=\"true\">San Francisco</｜DSML｜parameter>\n"
        "</｜DSML｜invoke>\n</｜DSML｜function_calls>",
        "｜DSML｜ alone and ｜ fullwidth bar ▁ lower block",
        "<｜begin▁of▁sentence", "<｜end▁of▁sentence｜", "<｜User|>",
    ]
    # Long mixed strings to exercise the piece cache and long words.
    cases.append("abc" * 300)
    cases.append(" ".join(["token"] * 200))
    cases.append("9" * 100)
    cases.append("天" * 120)
    alphabet = ("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 \t\n.,;:!?'\"()[]{}<>/\\-_=+*&^%$#@~`|"
                "天气很好我们的日本語カナひらがなéüñçøΩЖж😀👍🏽₿€½١٢") 
    for _ in range(40):
        n = rng.randint(1, 80)
        cases.append("".join(rng.choice(alphabet) for _ in range(n)))
    return cases


def main():
    os.makedirs(OUT, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(DIGITS), behavior="isolated", invert=False),
        pre_tokenizers.Split(Regex(CJK), behavior="isolated", invert=False),
        pre_tokenizers.Split(Regex(MAIN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=3000, min_frequency=2, show_progress=False,
                                  special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(training_corpus(), trainer)
    tok.add_tokens(ADDED)
    tok.save(os.path.join(OUT, "tokenizer.json"), pretty=True)

    tok = Tokenizer.from_file(os.path.join(OUT, "tokenizer.json"))
    rows = []
    for text in test_corpus():
        ids = tok.encode(text, add_special_tokens=True).ids
        rows.append({
            "text": text,
            "text_hex": text.encode("utf-8").hex(),
            "ids": ids,
            "decoded": tok.decode(ids, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
        })
        for key in ("decoded", "decoded_skip_special"):
            rows[-1][key + "_hex"] = rows[-1][key].encode("utf-8").hex()
    # Decoding arbitrary id sequences: tokens that split UTF-8 characters give U+FFFD.
    rng = random.Random(99)
    decode_rows = []
    n_vocab = tok.get_vocab_size(with_added_tokens=True)
    for _ in range(30):
        ids = [rng.randrange(n_vocab) for _ in range(rng.randint(1, 12))]
        row = {"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False),
               "decoded_skip_special": tok.decode(ids, skip_special_tokens=True)}
        for key in ("decoded", "decoded_skip_special"):
            row[key + "_hex"] = row[key].encode("utf-8").hex()
        decode_rows.append(row)
    with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizers_version": tokenizers.__version__,
                   "python": sys.version.split()[0],
                   "vocab_size": tok.get_vocab_size(with_added_tokens=True),
                   "encode": rows, "decode": decode_rows}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    variants()
    print(f"wrote {OUT}/tokenizer.json ({tok.get_vocab_size()} tokens) and expected.json "
          f"({len(rows)} texts, {len(decode_rows)} id lists)", file=sys.stderr)


VARIANT_TEXTS = [
    "", "Hello world", "  two  spaces  and\ttabs\n\nnewlines ", "abc123def4567", "a1b22c333",
    "<s>start and end</s>", "x <s> y</s>z", "  <s>  padded  </s>  ", "ABCabcXYZ", "ab abc abcd",
    "天气 12 😀", "A\u0301 ﬁ Ω", "aaaa bbbb abab",
]


def train_small(pre, corpus_extra=()):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(TRAIN_TEXT[:4]) * 5 + list(corpus_extra), trainer)
    return tok


def variants():
    """Small tokenizers exercising the other supported options, with tokenizers' ids."""
    from tokenizers import AddedToken, processors
    out = []
    bl = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    specs = [
        ("split_string_merged_previous",
         pre_tokenizers.Sequence([pre_tokenizers.Split(" ", behavior="merged_with_previous"), bl])),
        ("split_regex_merged_next",
         pre_tokenizers.Sequence([pre_tokenizers.Split(Regex("\\s+"), behavior="merged_with_next"), bl])),
        ("split_removed_inverted",
         pre_tokenizers.Sequence([pre_tokenizers.Split(Regex("[a-z]+"), behavior="removed", invert=True), bl])),
        ("split_contiguous",
         pre_tokenizers.Sequence([pre_tokenizers.Split(Regex("\\d"), behavior="contiguous"), bl])),
        ("split_isolated_digits",
         pre_tokenizers.Sequence([pre_tokenizers.Split(Regex("\\p{N}"), behavior="isolated"), bl])),
        ("gpt2_bytelevel_prefix_template",
         pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)),
    ]
    for name, pre in specs:
        tok = train_small(pre, VARIANT_TEXTS * 3)
        if name.startswith("gpt2"):
            tok.add_special_tokens([AddedToken("<s>", lstrip=True, rstrip=False),
                                    AddedToken("</s>", rstrip=True, lstrip=False)])
            tok.post_processor = processors.TemplateProcessing(
                single="<s> $A </s>", special_tokens=[("<s>", tok.token_to_id("<s>")),
                                                    ("</s>", tok.token_to_id("</s>"))])
        else:
            tok.add_special_tokens(["<s>", "</s>"])
        out.append((name, tok))
    # Character-level BPE without ByteLevel: unk (fused) and byte fallback.
    unk_json = {
        "version": "1.0", "added_tokens": [], "normalizer": None, "pre_tokenizer": None,
        "post_processor": None, "decoder": None,
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "fuse_unk": True,
                  "byte_fallback": False, "ignore_merges": False,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "vocab": {"<unk>": 0, "a": 1, "b": 2, "c": 3, " ": 4, "ab": 5, "abc": 6},
                  "merges": [["a", "b"], ["ab", "c"]]}}
    out.append(("unk_fused", Tokenizer.from_str(json.dumps(unk_json))))
    fb = json.loads(json.dumps(unk_json))
    fb["model"]["fuse_unk"] = False
    fb["model"]["byte_fallback"] = True
    for b in range(256):
        fb["model"]["vocab"]["<0x%02X>" % b] = 7 + b
    out.append(("byte_fallback", Tokenizer.from_str(json.dumps(fb))))
    ign = json.loads(json.dumps(unk_json))
    ign["model"]["ignore_merges"] = True
    ign["model"]["vocab"]["bca"] = 7
    out.append(("ignore_merges", Tokenizer.from_str(json.dumps(ign))))
    sw = Tokenizer.from_str(json.dumps(unk_json))
    sw.add_tokens([AddedToken("ab", single_word=True), AddedToken("ca", single_word=True,
                                                                  lstrip=True)])
    out.append(("single_word", sw))
    single_word_texts = ["ab", "xab", "ab_", "_ab", "é ab", "éab", "abé", "1ab", "ab1", "ab-ab",
                         "abab", "a ab ab", "ab\u0301", "\u0301ab", "ⅷab", "²ab", "ab\u05d0",
                         "x abab ab", "Ⓐab", "ab\u200d", " ca", "b ca", "bca ca", "🙂ab🙂"]
    rows = []
    for name, tok in out:
        cases = []
        extra = single_word_texts if name == "single_word" else []
        for text in VARIANT_TEXTS + ["bca", "abcbca cab"] + extra:
            ids = tok.encode(text, add_special_tokens=True).ids
            cases.append({"text_hex": text.encode("utf-8").hex(), "ids": ids,
                          "decoded_hex": tok.decode(ids, skip_special_tokens=False)
                          .encode("utf-8").hex()})
        rows.append({"name": name, "tokenizer": json.loads(tok.to_str()), "cases": cases})
    with open(os.path.join(OUT, "variants.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizers_version": tokenizers.__version__, "variants": rows}, f,
                  ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
