#!/bin/bash -eu
# Builds stackscope's GC fuzz target for ClusterFuzzLite / OSS-Fuzz (docs/fuzzing.md).
npm ci
bash scripts/setup.sh
npm install --no-save @jazzer.js/core
# compile_javascript_fuzzer <project dir> <target> [jazzer options]
compile_javascript_fuzzer stackscope fuzz/jazzer-target.mjs --sync
zip -j "$OUT/jazzer-target_seed_corpus.zip" fuzz/corpus/*
