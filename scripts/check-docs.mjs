// Compiles every ```ts code block of README.md and docs/*.md against the package's own types,
// so a sample that no longer matches the API fails CI. A block starting with `// no-check` is skipped.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const out = '.docs-check';
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const files = [
  'README.md',
  ...readdirSync('docs')
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f)),
];
let count = 0;
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const re = /```ts\n([\s\S]*?)```/g;
  let m;
  while ((m = re.exec(text))) {
    const code = m[1];
    if (code.startsWith('// no-check')) continue;
    const line = text.slice(0, m.index).split('\n').length;
    const name = `${file.replace(/[^a-z0-9]+/gi, '_')}_L${line}.ts`;
    // Each block is a module of its own; top-level await is allowed.
    writeFileSync(join(out, name), `// ${file}:${line}\n${code}\nexport {};\n`);
    count++;
  }
}
writeFileSync(
  join(out, 'tsconfig.json'),
  JSON.stringify({
    compilerOptions: {
      target: 'ES2023',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      lib: ['ES2023'],
      types: ['node'],
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      esModuleInterop: true,
      paths: { ridethrough: ['../src/index.ts'], 'ridethrough/otel': ['../src/otel/index.ts'], 'ridethrough/kubernetes': ['../src/kubernetes/index.ts'] },
    },
    include: ['*.ts'],
  }),
);
writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
// The option tables are generated from the option rules in src/: they must match.
execFileSync(process.execPath, ['--import', 'tsx', 'scripts/options-doc.ts', '--check'], { stdio: 'inherit' });
try {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', join(out, 'tsconfig.json')], { stdio: 'inherit' });
  console.log(`check-docs: ${count} code samples compile`);
} catch {
  console.error('check-docs: some code samples in README.md or docs/ do not compile (see above; file and line in each sample header)');
  process.exit(1);
}
