// Writes the option tables of docs/configuration.md and docs/kubernetes.md from the option rules in src/
// (type, range, default, doc line defined once). `--check` fails instead when the docs differ from the rules.
import { readFileSync, writeFileSync } from 'node:fs';
import { documentedOptions } from '../src/core/options.js';
import { kubernetesOptions } from '../src/kubernetes/config.js';
import { type OptionGroup, rowsOf } from '../src/utils/option-table.js';

/** Per docs file, the tables it holds, by the name of their markers (`<!-- options:name -->` ... `<!-- /options:name -->`). */
const files: Readonly<Record<string, Readonly<Record<string, OptionGroup<object>>>>> = {
  'docs/configuration.md': documentedOptions,
  'docs/kubernetes.md': { kubernetes: kubernetesOptions as OptionGroup<object> },
};
const check = process.argv.includes('--check');

const cell = (s: string): string => s.replaceAll('|', '\\|').replaceAll('\n', ' ');
function table(group: OptionGroup<object>, prefix: string): string {
  const rows = rowsOf(group, prefix).filter((r) => r.path !== 'dns');
  const lines = ['| option | default | range | what it does, when to change it |', '|---|---|---|---|'];
  for (const r of rows) lines.push(`| \`${r.path}\` | ${cell(r.defaultText)} | ${cell(r.rangeText)} | ${cell(r.doc)} |`);
  return lines.join('\n');
}

let failed = false;
for (const [file, groups] of Object.entries(files)) {
  const before = readFileSync(file, 'utf8');
  let text = before;
  for (const [name, group] of Object.entries(groups)) {
    const start = `<!-- options:${name} -->`;
    const end = `<!-- /options:${name} -->`;
    const from = text.indexOf(start);
    const to = text.indexOf(end);
    if (from < 0 || to < from) throw new Error(`${file}: markers ${start} ... ${end} not found`);
    const body = table(group, name === 'dns' ? 'dns' : '');
    text = `${text.slice(0, from + start.length)}\n${body}\n${text.slice(to)}`;
  }
  if (before === text) {
    console.log(`options-doc: ${file} matches the option rules`);
  } else if (check) {
    console.error(`options-doc: ${file} differs from the option rules in src/; run \`npm run docs:options\``);
    failed = true;
  } else {
    writeFileSync(file, text);
    console.log(`options-doc: wrote the option tables of ${file}`);
  }
}
if (failed) process.exit(1);
