#!/usr/bin/env bash
# The embedded transcription (docs/BENCHMARKS.md, "Issue 11: enrichment"): ten sentences a caller might
# say, synthesised with espeak-ng and written by sox as 16 kHz PCM WAV and 8 kHz µ-law WAV (a
# telephone recording), decoded (enrich/audio.c) and transcribed (enrich/sphinx.c) by
# bench/pipeline/sphinx_bench.c, built here at -O2 from the sources it needs. Prints a markdown
# table: real-time factor per core (audio seconds / CPU seconds of the one thread, the model
# loaded once per worker as the engine does, and loaded again for every file as
# pocketsphinx's own command-line tool does), word error rate scored by Debian's sctk (sclite),
# and the keyword spotting of the dictionary words the sentences hold (hits, false alarms).
#   bench/pipeline/run.sh            (about a minute of CPU; bounded by a 300 s timeout)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VOICE=(-v en-us -s 140) # espeak-ng's US voice a little slower than its default: see README
KEYS="boston,chicago,dallas,denver,plumber,electrician,kitchen,roof,water heater,carpets,appointment"
SENTENCES=(
    "I would like to book a plumber in Boston tomorrow morning please"
    "my kitchen sink is leaking and I need someone to fix it today"
    "can you send an electrician to my house in Chicago on Monday"
    "the air conditioner stopped working and it is very hot here"
    "please call me back at the number I gave you this afternoon"
    "I live in Dallas and my water heater is making a loud noise"
    "we need a new roof before the winter starts next month"
    "how much does it cost to clean the carpets in three rooms"
    "my name is John Smith and I am calling about my appointment"
    "the heating system in our office in Denver does not turn on"
)

SCLITE=$(command -v sclite || echo /usr/lib/sctk/bin/sclite)
for t in espeak-ng sox cc pkg-config "$SCLITE"; do
    command -v "$t" >/dev/null || { echo "bench: missing $t (scripts/deps.sh test installs it)" >&2; exit 1; }
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pipeline-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

cc -O2 -std=gnu17 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE -Isrc \
    -o "$TMP/sphinx_bench" bench/pipeline/sphinx_bench.c src/enrich/audio.c src/enrich/sphinx.c \
    src/util/mem.c src/util/buf.c \
    $(pkg-config --cflags --libs jansson sndfile libmpg123 samplerate pocketsphinx sphinxbase) \
    -lpthread -lm 2> >(grep -v '^Package .* was not found\|sphinxbase.pc' >&2 || true)

: >"$TMP/ref.trn"
for i in "${!SENTENCES[@]}"; do
    n=$(printf '%02d' $((i + 1)))
    espeak-ng "${VOICE[@]}" -w "$TMP/raw$n.wav" "${SENTENCES[$i]}"
    sox -R "$TMP/raw$n.wav" -r 16000 -b 16 -e signed-integer "$TMP/w16-$n.wav"
    sox -R "$TMP/raw$n.wav" -r 8000 -e mu-law "$TMP/w8-$n.wav"
    printf '%s (bench-%s)\n' "$(tr 'A-Z' 'a-z' <<<"${SENTENCES[$i]}")" "$n" >>"$TMP/ref.trn"
done

# the ten sentences as one call: 0.8 s pauses between them
sox -R -n -r 16000 -b 16 -c 1 "$TMP/gap16.wav" trim 0 0.8
sox -R -n -r 8000 -e mu-law -c 1 "$TMP/gap8.wav" trim 0 0.8
call16=() call8=()
for f in "$TMP"/w16-*.wav; do call16+=("$f" "$TMP/gap16.wav"); done
for f in "$TMP"/w8-*.wav; do call8+=("$f" "$TMP/gap8.wav"); done
sox -R "${call16[@]}" "$TMP/call16-01.wav"
sox -R "${call8[@]}" "$TMP/call8-01.wav"
printf '%s (bench-01)\n' "$(sed 's/ (bench-[0-9]*)$//' "$TMP/ref.trn" | tr '\n' ' ' | sed 's/ $//')" \
    >"$TMP/call.trn"

row() { # label ref files...: one table row
    local label=$1 ref=$2
    shift 2
    timeout 300 "$TMP/sphinx_bench" --keys "$KEYS" "$@" >"$TMP/out.tsv"
    awk -F'\t' -v dir="$TMP" 'NR > 1 { n = $1; sub(/.*-/, "", n); sub(/\.wav$/, "", n);
        printf "%s (bench-%s)\n", $5, n > (dir "/hyp.trn") }' "$TMP/out.tsv"
    local err
    err=$("$SCLITE" -r "$ref" trn -h "$TMP/hyp.trn" trn -i rm -o sum stdout |
        awk '/Sum\/Avg/ { gsub(/\|/, " "); print $(NF-1) }')
    # keyword spotting: a key is expected in a sentence if the sentence says it
    awk -F'\t' -v keys="$KEYS" -v label="$label" -v wer="$err" -v ref="$ref" '
        BEGIN { nk = split(keys, K, ","); i = 0
                while ((getline line < ref) > 0) { i++; R[i] = " " line " " } }
        NR == 1 { load = $2; next }
        { f++; audio += $2; dec += $3; asr += $4
          split($6, H, ","); delete got; for (h in H) if (H[h] != "") got[H[h]] = 1
          for (k = 1; k <= nk; k++) {
              said = index(R[f], " " K[k] " ") > 0
              if (said && (K[k] in got)) tp++; else if (said) fn++; else if (K[k] in got) fp++ } }
        END { cpu = dec + asr
              printf "| %s | %.1f s | %.2f s | %.1fx | %.1fx | %.1fx | %s %% | %d of %d | %d |\n",
                  label, audio, load, audio / dec, audio / cpu, audio / (cpu + load * f),
                  wer, tp, tp + fn, fp }' "$TMP/out.tsv"
}

echo "| audio | length | model load (CPU) | decoding + resampling | transcription, load excluded | load per file | WER (sclite) | keywords caught | false alarms |"
echo "|---|---|---|---|---|---|---|---|---|"
row "16 kHz PCM WAV, 10 files" "$TMP/ref.trn" "$TMP"/w16-*.wav
row "8 kHz µ-law WAV, 10 files" "$TMP/ref.trn" "$TMP"/w8-*.wav
row "16 kHz PCM WAV, one call" "$TMP/call.trn" "$TMP/call16-01.wav"
row "8 kHz µ-law WAV, one call" "$TMP/call.trn" "$TMP/call8-01.wav"
