#!/bin/sh
# SPDX-License-Identifier: MIT
# The include arrows between the folders of src/ run one way: each folder
# may include only the folders listed for it below (and include/rowcast/,
# the public API).  One TAP line per folder; a failing line names the file
# and the include that runs against the direction.
set -u
src=${ROWCAST_SRCDIR:-.}/src

# folder: the folders its files may include (besides its own).  Only
# app/ (the offline `rowcast decode` verb) reaches into source/mysql/.
rules='
base:
config: base
change: base
checkpoint: base
source: base config change checkpoint
source/mysql: base config change checkpoint source
source/pg: base config change checkpoint source
route: base config change
sink: base config change
pipeline: base config change checkpoint source route sink
app: base config change checkpoint source source/mysql route sink pipeline
'

# The folder an include path or a file belongs to: the longest rule
# name it starts with ("source/mysql/x.h" is in source/mysql).
folder_of() {
  best=
  for f in $(printf '%s\n' "$rules" | sed -n 's/^\([a-z/]*\):.*/\1/p'); do
    case "$1" in "$f"/*) [ ${#f} -gt ${#best} ] && best=$f ;; esac
  done
  printf '%s' "$best"
}

n=$(printf '%s\n' "$rules" | grep -c ':')
echo "1..$((n + 2))"
i=0
bad_total=0
printf '%s\n' "$rules" | grep ':' | {
  while IFS=: read -r folder allowed; do
    i=$((i + 1))
    bad=
    for file in $(cd "$src" && find "$folder" -maxdepth 1 -name '*.[ch]' | sort); do
      for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$src/$file"); do
        case "$inc" in */*) ;; *) continue ;; esac	# beside it
        case "$inc" in rowcast/*) continue ;; esac	# the public API
        to=$(folder_of "$inc")
        [ "$to" = "$folder" ] && continue
        ok=
        for a in $allowed; do [ "$a" = "$to" ] && ok=1; done
        [ -z "$ok" ] && bad="$bad $file->$inc"
      done
    done
    if [ -z "$bad" ]; then
      echo "ok $i - src/$folder includes only:${allowed:- nothing}"
    else
      echo "not ok $i - src/$folder includes against the direction:$bad"
    fi
  done
  # every folder of src/ has a rule
  i=$((i + 1))
  missing=
  for d in $(cd "$src" && find . -mindepth 1 -type d | sed 's|^\./||' | sort); do
    printf '%s\n' "$rules" | grep -q "^$d:" || missing="$missing $d"
  done
  if [ -z "$missing" ]; then
    echo "ok $i - every folder of src/ has a rule"
  else
    echo "not ok $i - folders without a rule in tests/unit/test_layers.sh:$missing"
  fi
  # the MySQL client library and the MySQL source's constructor stay in
  # the source layer: the pipeline picks a source by [source] type
  i=$((i + 1))
  leaks=$(cd "$src" && grep -lE '<mysql\.h>|mysql_thread_(init|end)|source_mysql_new' \
            $(find . -name '*.[ch]' | sed 's|^\./||' | sort) |
          grep -vE '^source/(mysql/|source\.[ch]$)' | tr '\n' ' ')
  if [ -z "$leaks" ]; then
    echo "ok $i - the MySQL client and source only under src/source/"
  else
    echo "not ok $i - MySQL client or source outside src/source/: $leaks"
  fi
}
