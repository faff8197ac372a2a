// Writes the option tables of docs/configuration.md from the option rules in src/ (type, range, default,
// doc line defined once). `--check` fails instead when the docs differ from the rules.
import { readFileSync, writeFileSync } from 'node:fs';
import { documentedOptions } from '../src/core/options.js';
import { type OptionGroup, rowsOf } from '../src/utils/option-table.js';

const file = 'docs/configuration.md';
const check = process.argv.includes('--check');
let text = readFileSync(file, 'utf8');

const cell = (s: string): string => s.replaceAll('|', '\\|').replaceAll('\n', ' ');
function table(group: OptionGroup<object>, prefix: string): string {
  const rows = rowsOf(group, prefix).filter((r) => r.path !== 'dns');
  const lines = ['| option | default | range | what it does, when to change it |', '|---|---|---|---|'];
  for (const r of rows) lines.push(`| \`${r.path}\` | ${cell(r.defaultText)} | ${cell(r.rangeText)} | ${cell(r.doc)} |`);
  return lines.join('\n');
}

for (const [name, group] of Object.entries(documentedOptions)) {
  const start = `<!-- options:${name} -->`;
  const end = `<!-- /options:${name} -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${file}: markers ${start} ... ${end} not found`);
  const body = table(group, name === 'dns' ? 'dns' : '');
  text = `${text.slice(0, from + start.length)}\n${body}\n${text.slice(to)}`;
}

const before = readFileSync(file, 'utf8');
if (before === text) {
  console.log(`options-doc: ${file} matches the option rules`);
} else if (check) {
  console.error(`options-doc: ${file} differs from the option rules in src/; run \`npm run docs:options\``);
  process.exit(1);
} else {
  writeFileSync(file, text);
  console.log(`options-doc: wrote the option tables of ${file}`);
}
