#!/usr/bin/env node
// k8s_validate.js: validate Kubernetes objects against the official
// OpenAPI schemas of Kubernetes 1.27, as compiled into validators by the
// npm package kubernetes-models (MIT; installed by scripts/install-deps.sh
// into /usr/local/lib/pgwarden-k8s-schema, or NODE_PATH). A real schema
// validator (ajv-generated), not hand-written checks: required fields,
// types, formats and enums of every nested field.
//
// Usage: k8s_validate.js FILE...   (YAML, several documents allowed, or
// JSON: one object, a list, or {"pods": {..}, "slices": {..}} as the API
// stand-in dumps its state). Prints one line per object; exits 1 if any
// object is invalid or of a kind it has no schema for.
const fs = require('fs');
const path = require('path');
const base = process.env.PGW_K8S_SCHEMA_DIR || '/usr/local/lib/pgwarden-k8s-schema';
module.paths.unshift(path.join(base, 'node_modules'));
const yaml = require('js-yaml');

function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return null;
  // core "v1" lives under v1/, a group "apps/v1" under apps/v1/
  try {
    return require(`kubernetes-models/${apiVersion}/${kind}`)[kind];
  } catch (e) {
    return null;
  }
}

function objects(file) {
  const text = fs.readFileSync(file, 'utf8');
  if (/\.json$/.test(file)) {
    const v = JSON.parse(text);
    if (Array.isArray(v)) return v;
    if (v && v.pods && v.slices) return Object.values(v.pods).concat(Object.values(v.slices));
    return [v];
  }
  return yaml.loadAll(text).filter((d) => d !== null && d !== undefined);
}

let bad = 0;
let n = 0;
for (const file of process.argv.slice(2)) {
  for (const obj of objects(file)) {
    n++;
    const name = `${file}: ${obj && obj.kind}/${obj && obj.metadata && obj.metadata.name}`;
    const Model = modelFor(obj && obj.apiVersion, obj && obj.kind);
    if (!Model) {
      console.log(`INVALID ${name}: no schema for apiVersion ${obj && obj.apiVersion} kind ${obj && obj.kind}`);
      bad++;
      continue;
    }
    try {
      new Model(obj).validate();
      console.log(`valid ${name}`);
    } catch (e) {
      console.log(`INVALID ${name}: ${e.message}`);
      bad++;
    }
  }
}
if (n === 0) {
  console.log('INVALID: no object found');
  bad++;
}
console.log(`${n - bad} valid, ${bad} invalid`);
process.exit(bad ? 1 : 0);
