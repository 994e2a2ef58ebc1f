#!/bin/sh
# Builds the catalog's product reads in Java 17 with plain javac and jar (no Maven Central here):
# the libraries are Debian's jars (/usr/share/java), copied into build/lib beside the
# application's jar, whose manifest names them, so `java -jar build/catalog-reads.jar` runs it.
set -eu
cd "$(dirname "$0")"
# Up to date (nothing in src/ or this script newer than the jar): nothing to do.
if [ -f build/catalog-reads.jar ] && [ -z "$(find src build.sh -newer build/catalog-reads.jar)" ]; then
  exit 0
fi
JARS="postgresql amqp-client jackson-databind jackson-core jackson-annotations slf4j-api slf4j-nop"
rm -rf build/classes build/lib
mkdir -p build/classes build/lib
classpath=""
manifest=""
for name in $JARS; do
  cp -L "/usr/share/java/$name.jar" "build/lib/$name.jar"
  classpath="$classpath:build/lib/$name.jar"
  manifest="$manifest lib/$name.jar"
done
javac --release 17 -encoding UTF-8 -Xlint:all -Werror -d build/classes -cp "${classpath#:}" \
  $(find src -name '*.java')
printf 'Main-Class: catalogreads.Main\nClass-Path:%s\n' "$manifest" > build/MANIFEST.MF
jar --create --file build/catalog-reads.jar --manifest build/MANIFEST.MF -C build/classes .
