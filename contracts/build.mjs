// Compiles contracts/src/*.sol with the solc-js version pinned in package.json and writes one
// artifact per deployable contract to clearinghouse/chain/artifacts/<Name>.json ({abi, bytecode, ...}).
//
//   node contracts/build.mjs           write the artifacts (and remove stale ones)
//   node contracts/build.mjs --check   exit 1 if the committed artifacts differ from a fresh build
//
// Output is deterministic: fixed compiler settings, sources in sorted order, keys sorted,
// two-space indentation, trailing newline. Compiler warnings fail the build.

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");

const contractsDir = dirname(fileURLToPath(import.meta.url));
const sourceDir = join(contractsDir, "src");
// Package data of clearinghouse.chain, so that a non-editable install can deploy the devnet.
const buildDir = join(contractsDir, "..", "clearinghouse", "chain", "artifacts");

const settings = {
  evmVersion: "shanghai",
  optimizer: { enabled: true, runs: 200 },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
};

function pinnedSolcVersion() {
  const manifest = JSON.parse(readFileSync(join(contractsDir, "package.json"), "utf8"));
  return manifest.dependencies.solc;
}

function readSources() {
  const names = readdirSync(sourceDir).filter((name) => name.endsWith(".sol")).sort();
  const sources = {};
  for (const name of names) {
    sources[`src/${name}`] = { content: readFileSync(join(sourceDir, name), "utf8") };
  }
  return sources;
}

function refuseImport(path) {
  return { error: `import ${path} is not under contracts/src; every source must be local` };
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  const sorted = {};
  for (const key of Object.keys(value).sort()) sorted[key] = sortKeys(value[key]);
  return sorted;
}

function compile() {
  const loaded = solc.version();
  const pinned = pinnedSolcVersion();
  if (!loaded.startsWith(`${pinned}+`)) {
    throw new Error(`solc ${loaded} is installed but package.json pins ${pinned}: run npm ci --prefix contracts`);
  }
  const input = { language: "Solidity", sources: readSources(), settings };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: refuseImport }));
  const diagnostics = output.errors ?? [];
  for (const diagnostic of diagnostics) process.stderr.write(diagnostic.formattedMessage + "\n");
  if (diagnostics.length > 0) {
    throw new Error(`solc reported ${diagnostics.length} error(s)/warning(s); expected none`);
  }
  return artifactsFrom(output, loaded);
}

function artifactsFrom(output, compilerVersion) {
  const artifacts = new Map();
  for (const [sourceName, contracts] of Object.entries(output.contracts)) {
    for (const [contractName, contract] of Object.entries(contracts)) {
      const bytecode = contract.evm.bytecode.object;
      if (bytecode.length === 0) continue; // interfaces and abstract contracts are not deployed
      if (artifacts.has(contractName)) throw new Error(`two contracts are named ${contractName}`);
      const artifact = sortKeys({ abi: contract.abi, bytecode: `0x${bytecode}`, compiler: compilerVersion, contractName, sourceName });
      artifacts.set(`${contractName}.json`, JSON.stringify(artifact, null, 2) + "\n");
    }
  }
  return artifacts;
}

function existingArtifacts() {
  if (!existsSync(buildDir)) return [];
  return readdirSync(buildDir).filter((name) => name.endsWith(".json")).sort();
}

function write(artifacts) {
  mkdirSync(buildDir, { recursive: true });
  for (const name of existingArtifacts()) {
    if (!artifacts.has(name)) rmSync(join(buildDir, name));
  }
  for (const [name, text] of [...artifacts].sort()) writeFileSync(join(buildDir, name), text);
  process.stdout.write(`wrote ${artifacts.size} artifacts to ${buildDir}\n`);
}

function check(artifacts) {
  const problems = [];
  for (const [name, text] of artifacts) {
    const path = join(buildDir, name);
    if (!existsSync(path)) problems.push(`${name}: missing`);
    else if (readFileSync(path, "utf8") !== text) problems.push(`${name}: differs from a fresh build`);
  }
  for (const name of existingArtifacts()) {
    if (!artifacts.has(name)) problems.push(`${name}: no contract of that name in contracts/src`);
  }
  if (problems.length > 0) {
    process.stderr.write(`clearinghouse/chain/artifacts is stale; run \`node contracts/build.mjs\`:\n  ${problems.join("\n  ")}\n`);
    process.exit(1);
  }
  process.stdout.write(`clearinghouse/chain/artifacts matches the sources (${artifacts.size} artifacts)\n`);
}

const args = process.argv.slice(2);
if (args.some((arg) => arg !== "--check")) {
  process.stderr.write(`usage: node build.mjs [--check]; got ${args.join(" ")}\n`);
  process.exit(2);
}
const artifacts = compile();
if (args.includes("--check")) check(artifacts);
else write(artifacts);
