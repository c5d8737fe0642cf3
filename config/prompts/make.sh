#!/usr/bin/env bash
# Makes the queue announcements from the texts beside them:
#   config/prompts/<language>/<name>.txt -> <name>.wav (8 kHz mono G.711 u-law)
# with Debian's espeak-ng (voices "id" and "en") and sox. An operator-recorded
# file in the same format (8 kHz mono, u-law, A-law or 16-bit PCM WAV) can
# replace any of them: sox in.wav -r 8000 -c 1 -e u-law out.wav
# Hold prompts get 2 s of silence at the end: they repeat while a caller waits.
set -euo pipefail
cd "$(dirname "$0")"
for tool in espeak-ng sox; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install espeak-ng sox)" >&2; exit 1; }
done
for lang in id en; do
  for txt in "$lang"/*.txt; do
    name=$(basename "$txt" .txt)
    tmp=$(mktemp --suffix=.wav)
    espeak-ng -v "$lang" -s 150 -w "$tmp" -f "$txt"
    pad=0.3
    [ "$name" = hold ] && pad=2
    sox "$tmp" -r 8000 -c 1 -e u-law "$lang/$name.wav" pad 0.2 "$pad" norm -3
    rm -f "$tmp"
    echo "$lang/$name.wav: $(soxi -D "$lang/$name.wav") s"
  done
done
