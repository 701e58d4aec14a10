#!/usr/bin/env bash
# Prepares .gpu-carry/ (git-ignored) so scripts/gpu-check.sh runs on a GPU machine that has no
# Maven, no network and perhaps no Java: a jlink-ed JDK 25, the project jars up to the app (kernels
# with its fatbins, so build with nvcc on PATH), their runtime dependencies (JCuda trimmed to its
# driver binding), the test classes of kernels and app (the GPU tests), the fixtures the model GPU
# tests read, and the JUnit console launcher. Run it here, then carry .gpu-carry to the GPU box.
# Usage: scripts/gpu-bundle.sh [--no-jdk]
set -euo pipefail
cd "$(dirname "$0")/.."
JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"; export JAVA_HOME
carry=.gpu-carry
rm -rf "$carry"; mkdir -p "$carry/lib" "$carry/test-classes"
junit_platform=1.11.4

echo "[bundle] building the app (and every module it needs) with test classes and dependencies"
# one reactor run: copy-dependencies then resolves the project's own modules from this build
./mvnw -q -B -pl app -am package test-compile dependency:copy-dependencies -DskipTests \
  -DincludeScope=test -DoutputDirectory="$PWD/$carry/deps"
grep -q '^built=true' kernels/target/classes/cuda/kernels.properties \
  || { echo "[bundle] kernels were built without nvcc; put nvcc on PATH and rerun" >&2; exit 1; }
cp -r kernels/target/test-classes/. app/target/test-classes/. "$carry/test-classes/"
cp app/target/train-app.jar "$carry/lib/"
fixtures="${FIXTURES_DIR:-fixtures}"   # the project's copy unless told otherwise
[ -f "$fixtures/model_tiny.json" ] || { echo "[bundle] no fixtures at $fixtures (set FIXTURES_DIR)" >&2; exit 1; }
mkdir -p "$carry/fixtures"; cp "$fixtures"/model_tiny.json "$fixtures"/model_tiny.safetensors "$carry/fixtures/"
./mvnw -q -B org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
  -Dartifact=org.junit.platform:junit-platform-console-standalone:$junit_platform -DoutputDirectory="$PWD/$carry"
for j in "$carry"/deps/*.jar; do
  case "$(basename "$j")" in
    train-app*) ;;                             # copied above
    jcuda-natives-*)                           # keep only the driver binding (1 MB of 26)
      tmp="$(mktemp -d)"; (cd "$tmp" && unzip -q "$OLDPWD/$j" 'lib/libJCudaDriver-*' && zip -q -r "$OLDPWD/$carry/lib/jcuda-natives-driver.jar" lib); rm -rf "$tmp" ;;
    junit-*|opentest4j-*|apiguardian-*) ;;     # inside the console launcher
    *) cp "$j" "$carry/lib/" ;;
  esac
done
rm -rf "$carry/deps"
if [ "${1:-}" != "--no-jdk" ]; then
  echo "[bundle] jlink-ing a JDK"
  "$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,java.xml,jdk.unsupported,jdk.incubator.vector,jdk.zipfs \
    --strip-debug --no-man-pages --no-header-files --compress=zip-9 --output "$carry/jdk"
fi
du -sh "$carry"; du -sh "$carry"/* | sort -h
