#!/bin/sh
# Builds the catalog's product reads in Kotlin with Debian's kotlinc 1.3 (JVM bytecode 1.8, on
# JDK 17) and the JDK's jar tool, against the same Debian jars as the Java one (no Maven Central
# here); the jars, Kotlin's standard library among them, copied into build/lib beside the
# application's jar, whose manifest names them, so `java -jar build/catalog-reads.jar` runs it.
set -eu
cd "$(dirname "$0")"
# Up to date (nothing in src/ or this script newer than the jar): nothing to do.
if [ -f build/catalog-reads.jar ] && [ -z "$(find src build.sh -newer build/catalog-reads.jar)" ]; then
  exit 0
fi
JARS="kotlin-stdlib kotlin-stdlib-jdk7 postgresql amqp-client jackson-databind jackson-core jackson-annotations slf4j-api slf4j-nop"
rm -rf build/classes build/lib
mkdir -p build/classes build/lib
classpath=""
manifest=""
for name in $JARS; do
  cp -L "/usr/share/java/$name.jar" "build/lib/$name.jar"
  classpath="$classpath:build/lib/$name.jar"
  manifest="$manifest lib/$name.jar"
done
# (kotlinc 1.3 on JDK 17 resolves String.isEmpty() to JDK 15's CharSequence member and warns:
# the sources compare with "" instead.)
# kotlinc 1.3 passes -Xverify:none to its own JVM, which JDK 17 warns about: not our warning.
kotlinc -jvm-target 1.8 -Werror -no-reflect -no-stdlib -cp "${classpath#:}" -d build/classes \
  $(find src -name '*.kt') 2>&1 | grep -v -e '-Xverify:none and -noverify were deprecated' >&2 || true
test -f build/classes/catalogreads/MainKt.class
printf 'Main-Class: catalogreads.MainKt\nClass-Path:%s\n' "$manifest" > build/MANIFEST.MF
jar --create --file build/catalog-reads.jar --manifest build/MANIFEST.MF -C build/classes .
