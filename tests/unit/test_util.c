/* Leaf modules (src/util): buffers with a ceiling, RFC 3339 and PBX-local times, E.164
 * numbers, CIDR allow-lists, hashing, constant-time comparison and argon2id. Expected values
 * are worked out by hand (epoch seconds, zone rules from tzdata) or are published vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/cidr.h"
#include "util/crypto.h"
#include "util/phone.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* 2024-05-14T10:15:00Z: 19857 days × 86400 + 10 h 15 min = 1715681700 s */
#define MAY14 1715681700000LL
#define HOUR  3600000LL

/* ---- result codes ----------------------------------------------------------------------- */

static void every_result_code_has_a_phrase(void **state)
{
    (void)state;
    assert_string_equal(ch_strerror(CH_OK), "ok");
    for (int rc = CH_EDISABLED; rc < CH_OK; rc++)
        assert_string_not_equal(ch_strerror(rc), "unknown result");
    assert_string_equal(ch_strerror(-1000), "unknown result");
}

/* ---- buf -------------------------------------------------------------------------------- */

static void buf_enforces_its_ceiling(void **state)
{
    (void)state;
    ch_buf b;
    ch_buf_init(&b, 10);
    assert_int_equal(ch_buf_append(&b, "12345678", 8), CH_OK);
    assert_int_equal(ch_buf_append(&b, "abc", 3), CH_ETOOBIG); /* 11 > 10 */
    assert_int_equal(b.len, 8);                                /* nothing half-appended */
    assert_string_equal(b.data, "12345678");                   /* still terminated */
    assert_int_equal(ch_buf_puts(&b, "90"), CH_OK);            /* exactly 10 fits */
    assert_string_equal(b.data, "1234567890");
    assert_int_equal(ch_buf_append(&b, "x", 1), CH_ETOOBIG);
    assert_int_equal(ch_buf_printf(&b, "%d", 1), CH_ETOOBIG);
    assert_int_equal(ch_buf_append(&b, "", 0), CH_OK); /* nothing more always fits */
    assert_int_equal(b.len, 10);

    ch_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(ch_buf_printf(&b, "%s-%03d", "ab", 7), CH_OK); /* "ab-007": 6 bytes */
    assert_int_equal(ch_buf_printf(&b, "%s", "12345"), CH_ETOOBIG); /* 11 */
    assert_int_equal(ch_buf_printf(&b, "%s", "1234"), CH_OK);       /* 10 */
    size_t n = 0;
    char *s = ch_buf_steal(&b, &n);
    assert_int_equal(n, 10);
    assert_string_equal(s, "ab-0071234");
    assert_null(b.data); /* the buffer is left empty, its ceiling kept */
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 10);
    free(s);
    ch_buf_free(&b);
}

static void buf_grows_past_its_first_allocation(void **state)
{
    (void)state;
    ch_buf b;
    ch_buf_init(&b, 100000);
    char chunk[1000];
    memset(chunk, 'z', sizeof chunk);
    for (int i = 0; i < 100; i++)
        assert_int_equal(ch_buf_append(&b, chunk, sizeof chunk), CH_OK);
    assert_int_equal(b.len, 100000);
    assert_int_equal(strlen(b.data), 100000);
    assert_int_equal(ch_buf_append(&b, "z", 1), CH_ETOOBIG);
    ch_buf_free(&b);
}

static void buf_steal_of_an_empty_buffer_is_an_empty_string(void **state)
{
    (void)state;
    ch_buf b;
    ch_buf_init(&b, 64);
    size_t n = 99;
    char *s = ch_buf_steal(&b, &n);
    assert_non_null(s);
    assert_int_equal(n, 0);
    assert_string_equal(s, ""); /* "always NUL-terminated" holds for a buffer never written */
    free(s);
}

/* ---- times ------------------------------------------------------------------------------ */

static int64_t parse(const char *s, const char *tz)
{
    int64_t ms = 0;
    if (ch_time_parse(s, tz, &ms) != CH_OK) fail_msg("did not parse \"%s\" in %s", s, tz);
    return ms;
}

static void rfc3339_with_offsets(void **state)
{
    (void)state;
    assert_int_equal(parse("2024-05-14T10:15:00Z", NULL), MAY14);
    assert_int_equal(parse("2024-05-14t10:15:00z", NULL), MAY14);
    assert_int_equal(parse("2024-05-14T13:15:00+03:00", NULL), MAY14);
    assert_int_equal(parse("2024-05-14T13:15:00.250+0300", NULL), MAY14 + 250);
    assert_int_equal(parse("2024-05-14T05:15:00-05:00", NULL), MAY14);
    assert_int_equal(parse("2024-05-14T15:45:00+05:30", NULL), MAY14); /* India */
    assert_int_equal(parse("2024-05-14T10:15:00.5Z", NULL), MAY14 + 500);
    assert_int_equal(parse("2024-05-14T10:15:00.123456Z", NULL), MAY14 + 123); /* truncated */
    assert_int_equal(parse("2024-05-14 10:15:00", "UTC"), MAY14);
    assert_int_equal(parse("2024-05-14 10:15", NULL), MAY14); /* seconds optional */
    /* an explicit offset wins over the zone */
    assert_int_equal(parse("2024-05-14T10:15:00Z", "Asia/Jerusalem"), MAY14);
    assert_int_equal(parse("2024-05-14T13:15:00+03:00", "America/New_York"), MAY14);
    /* 2024-02-29 is day 19782 since the epoch */
    assert_int_equal(parse("2024-02-29T00:00:00Z", NULL), 19782LL * 86400000);
    assert_int_equal(parse("1970-01-01T00:00:00Z", NULL), 0);

    int64_t ms = 42;
    const char *bad[] = {"",
                         "yesterday",
                         "2024-05-14",
                         "2024-05-14T10",
                         "2024-13-01T00:00:00Z",
                         "2024-00-10T00:00:00Z",
                         "2024-02-30T00:00:00Z",
                         "2023-02-29T00:00:00Z", /* not a leap year */
                         "2024-04-31 10:00:00",
                         "2024-05-14T24:00:00Z",
                         "2024-05-14T10:60:00Z",
                         "2024-05-14T10:15:00+24:00",
                         "2024-05-14T10:15:00 Z",
                         "2024-05-14T10:15:00Zjunk",
                         "2024-05-14T10:15:00.Z",
                         "2024/05/14 10:15:00"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (ch_time_parse(bad[i], NULL, &ms) != CH_EINVAL) fail_msg("parsed \"%s\"", bad[i]);
    assert_int_equal(ms, 42); /* untouched on failure */
}

static void format_round_trips(void **state)
{
    (void)state;
    char out[40];
    ch_time_format(MAY14, out, sizeof out);
    assert_string_equal(out, "2024-05-14T10:15:00Z");
    ch_time_format(MAY14 + 250, out, sizeof out);
    assert_string_equal(out, "2024-05-14T10:15:00.250Z");
    ch_time_format_ms(MAY14, out, sizeof out);
    assert_string_equal(out, "2024-05-14T10:15:00.000Z");
    ch_time_format(-1, out, sizeof out); /* one ms before the epoch */
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
    const int64_t samples[] = {0, MAY14, MAY14 + 7, 951782400000LL /* 2000-02-29 */,
                               253402300799999LL};
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        ch_time_format(samples[i], out, sizeof out);
        assert_int_equal(parse(out, "Asia/Jerusalem"), samples[i]);
        ch_time_format_ms(samples[i], out, sizeof out);
        assert_int_equal(parse(out, "Asia/Jerusalem"), samples[i]);
    }
    assert_true(ch_tz_valid("Asia/Jerusalem"));
    assert_true(ch_tz_valid("UTC"));
    assert_true(ch_tz_valid(""));
    assert_false(ch_tz_valid("Not/AZone"));
    assert_false(ch_tz_valid("../etc/passwd"));
    assert_false(ch_tz_valid("/etc/localtime"));
}

/* Israel: IST (+02) in winter, IDT (+03) in summer; in 2026 the clocks go 02:00 → 03:00 on
 * Friday 27 March and 02:00 → 01:00 on Sunday 25 October. */
static void pbx_local_time_in_jerusalem_across_dst(void **state)
{
    (void)state;
    const char *tz = "Asia/Jerusalem";
    assert_int_equal(parse("2024-05-14 13:15:00", tz), MAY14);           /* summer, +3 */
    assert_int_equal(parse("2024-01-10 09:00:00", tz), 1704870000000LL); /* winter, +2 */
    assert_int_equal(parse("2024-01-10 09:00:00", NULL), 1704870000000LL + 2 * HOUR);

    /* spring forward: one second before and the first second after the change */
    int64_t change = parse("2026-03-27T00:00:00Z", NULL);
    assert_int_equal(parse("2026-03-27 01:59:59", tz), change - 1000);
    assert_int_equal(parse("2026-03-27 03:00:00", tz), change);
    assert_int_equal(parse("2026-03-27 04:00:00", tz) - parse("2026-03-27 01:00:00", tz),
                     2 * HOUR); /* three hours on the wall clock, two in reality */
    /* 02:30 does not exist that day: read with the offset before the change (+02) */
    assert_int_equal(parse("2026-03-27 02:30:00", tz), change + HOUR / 2);

    /* fall back: 01:00–01:59 happens twice; the first occurrence (+03) is taken */
    int64_t back = parse("2026-10-24T23:00:00Z", NULL); /* 02:00 IDT = 01:00 IST */
    assert_int_equal(parse("2026-10-25 00:59:59", tz), back - HOUR - 1000);
    assert_int_equal(parse("2026-10-25 01:30:00", tz), back - HOUR / 2);
    assert_int_equal(parse("2026-10-25 02:00:00", tz), back + HOUR);
    assert_int_equal(parse("2026-10-25 03:00:00", tz), back + 2 * HOUR);
}

/* The same string must give the same instant whatever was parsed before it (glibc's mktime
 * remembers its last DST guess). */
static void ambiguous_local_times_do_not_depend_on_history(void **state)
{
    (void)state;
    const char *tz = "Asia/Jerusalem";
    const char *before[] = {"2024-01-01 12:00:00", "2024-07-01 12:00:00", "2024-10-27 03:00:00",
                            "2024-10-26 23:00:00"};
    /* 2024-10-27 01:30 first occurs at 01:30 IDT = 22:30Z on the 26th */
    int64_t want = parse("2024-10-26T22:30:00Z", NULL);
    for (size_t i = 0; i < sizeof before / sizeof *before; i++) {
        parse(before[i], tz);
        if (parse("2024-10-27 01:30:00", tz) != want)
            fail_msg("2024-10-27 01:30 in %s after parsing %s", tz, before[i]);
        parse(before[i], tz);
        if (parse("2026-10-25 01:30:00", tz) != parse("2026-10-24T22:30:00Z", NULL))
            fail_msg("2026-10-25 01:30 in %s after parsing %s", tz, before[i]);
    }
    /* New York 2024-11-03: 01:30 EDT (-4) first, = 05:30Z; 2024-03-10 02:30 is in the gap and
     * reads with EST (-5), = 07:30Z */
    for (size_t i = 0; i < 2; i++) {
        parse(i ? "2024-12-01 12:00:00" : "2024-06-01 12:00:00", "America/New_York");
        assert_int_equal(parse("2024-11-03 01:30:00", "America/New_York"),
                         parse("2024-11-03T05:30:00Z", NULL));
        assert_int_equal(parse("2024-03-10 02:30:00", "America/New_York"),
                         parse("2024-03-10T07:30:00Z", NULL));
    }
}

static void calendar_month_in_a_zone(void **state)
{
    (void)state;
    char month[8];
    /* 2024-05-31T22:30Z is already June in Jerusalem (01:30 +03) but May in UTC */
    int64_t t = parse("2024-05-31T22:30:00Z", NULL);
    ch_time_month(t, "UTC", month);
    assert_string_equal(month, "2024-05");
    ch_time_month(t, "Asia/Jerusalem", month);
    assert_string_equal(month, "2024-06");
    ch_time_month(parse("2025-01-01T03:00:00Z", NULL), "America/New_York", month);
    assert_string_equal(month, "2024-12"); /* 22:00 on New Year's Eve */
}

/* ---- phone numbers ---------------------------------------------------------------------- */

static void phone(const char *raw, const char *cc, const char *want)
{
    char out[24];
    bool ok = ch_phone_e164(raw, cc, out, sizeof out);
    if (!want && ok) fail_msg("\"%s\" (country %s) gave %s, want refusal", raw, cc, out);
    if (want && !ok) fail_msg("\"%s\" (country %s) refused, want %s", raw, cc, want);
    if (want && strcmp(out, want) != 0) fail_msg("\"%s\" (%s): %s, want %s", raw, cc, out, want);
}

static void phone_numbers_to_e164(void **state)
{
    (void)state;
    /* Israel: national numbers drop the trunk 0 after the country code */
    phone("050-123-4567", "972", "+972501234567");
    phone("0501234567", "972", "+972501234567");
    phone("03-123-4567", "972", "+97231234567");
    phone("(03) 123 4567", "972", "+97231234567");
    /* already international, whatever the tenant's country */
    phone("+972 50-123-4567", "1", "+972501234567");
    phone("00972501234567", "44", "+972501234567");
    phone("+1 (415) 555-0142", "972", "+14155550142");
    phone("sip:+14155550142@pbx.example.com", "972", "+14155550142");
    phone("tel:+44-20-7946-0958", NULL, "+442079460958");
    /* NANP: ten digits, 1 + ten digits, 011 + an international number of any length */
    phone("(415) 555-0142", "1", "+14155550142");
    phone("415.555.0142", "1", "+14155550142");
    phone("1-415-555-0142", "1", "+14155550142");
    phone("011 49 30 1234567", "1", "+49301234567");    /* 11 digits after 011 */
    phone("011 44 20 7946 0958", "1", "+442079460958"); /* 12 */
    phone("011 972 50 123 4567", "1", "+972501234567"); /* 12 */
    /* not a full number: extensions, short codes, names, garbage */
    phone("1001", "972", NULL);
    phone("*72", "972", NULL);
    phone("anonymous", "972", NULL);
    phone("Dana Levi", "972", NULL);
    phone("", "972", NULL);
    phone("+", "972", NULL);
    phone("050-123-4567", NULL, NULL); /* national, but no country to complete it */
    phone("050-123-4567", "", NULL);
    /* (what is a valid national number is libphonenumber's metadata: "415-555-0142" is one in
     * Israel too) */
    phone("055-0142", "1", NULL);
    phone("+12345678901234567890", "972", NULL); /* more than 15 digits */
    phone("+0501234567", "972", NULL);           /* no country code starts with 0 */
    phone("000 501 234 567", "972", NULL);
    phone("050-123-4567x12", "972", NULL);
    phone("sip:++ 49 00", "44", NULL); /* libphonenumber formats it as the raw input (fuzz) */
    phone(NULL, "972", NULL);
    char small[13]; /* "+972501234567" needs 14 bytes: refused, not cut */
    assert_false(ch_phone_e164("050-123-4567", "972", small, sizeof small));
}

/* The per-thread cache of answers (phone.cc) never changes one: every number of the table
 * above, asked again after hundreds of other numbers have gone through the same slots, and in
 * another thread whose cache is empty, gives the same answer; one raw string with two
 * countries gives two answers. */
static const char *const cache_probe[][2] = {
    {"050-123-4567", "972"},
    {"0501234567", "972"},
    {"(415) 555-0142", "1"},
    {"1001", "972"},
    {"anonymous", "972"},
    {"050-123-4567", "1"},
    {"050-123-4567", NULL},
    {"+1 (415) 555-0142", "972"},
    {"sip:+14155550142@pbx.example.com", "972"},
};
#define NPROBE (sizeof cache_probe / sizeof *cache_probe)

typedef struct {
    char out[NPROBE][24];
    bool ok[NPROBE];
} probe_answers;

static void *answer_probes(void *arg)
{
    probe_answers *a = arg;
    for (size_t i = 0; i < NPROBE; i++)
        a->ok[i] = ch_phone_e164(cache_probe[i][0], cache_probe[i][1], a->out[i], sizeof a->out[i]);
    return NULL;
}

static void phone_cache_keeps_every_answer(void **state)
{
    (void)state;
    probe_answers fresh = {0}, here = {0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, answer_probes, &fresh), 0);
    pthread_join(t, NULL);
    for (int round = 0; round < 3; round++) {
        answer_probes(&here);
        for (size_t i = 0; i < NPROBE; i++) {
            assert_int_equal(here.ok[i], fresh.ok[i]);
            if (fresh.ok[i]) assert_string_equal(here.out[i], fresh.out[i]);
        }
        char raw[32], out[24];
        for (int k = 0; k < 1000; k++) { /* through every slot, several times */
            snprintf(raw, sizeof raw, "+1 415 555 %04d", k);
            assert_true(ch_phone_e164(raw, "1", out, sizeof out));
            char want[24];
            snprintf(want, sizeof want, "+1415555%04d", k);
            assert_string_equal(out, want);
        }
    }
    assert_true(fresh.ok[0]);
    assert_false(fresh.ok[5]); /* "050-123-4567" is no US number: the country is in the key */
}

/* ---- CIDR ------------------------------------------------------------------------------- */

static struct sockaddr *v4(const char *ip, struct sockaddr_in *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &sa->sin_addr), 1);
    return (struct sockaddr *)sa;
}

static struct sockaddr *v6(const char *ip, struct sockaddr_in6 *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &sa->sin6_addr), 1);
    return (struct sockaddr *)sa;
}

static void cidr_ipv4(void **state)
{
    (void)state;
    struct sockaddr_in a;
    const char *list = "10.0.0.0/8, 203.0.113.7, 192.168.4.0/22";
    assert_true(ch_cidr_list_valid(list));
    assert_true(ch_cidr_list_match(list, v4("10.200.3.4", &a)));
    assert_false(ch_cidr_list_match(list, v4("11.0.0.1", &a)));
    assert_true(ch_cidr_list_match(list, v4("203.0.113.7", &a))); /* no prefix: /32 */
    assert_false(ch_cidr_list_match(list, v4("203.0.113.8", &a)));
    assert_true(ch_cidr_list_match(list, v4("192.168.7.255", &a))); /* 4.0–7.255 */
    assert_false(ch_cidr_list_match(list, v4("192.168.8.0", &a)));
    assert_false(ch_cidr_list_match(list, v4("192.168.3.255", &a)));
    assert_true(ch_cidr_list_match("0.0.0.0/0", v4("198.51.100.1", &a)));
    assert_true(ch_cidr_list_valid(""));
    assert_false(ch_cidr_list_match("", v4("10.0.0.1", &a))); /* empty list matches nothing */
    char text[64];
    ch_addr_format(v4("203.0.113.7", &a), text, sizeof text);
    assert_string_equal(text, "203.0.113.7");
}

static void cidr_ipv6(void **state)
{
    (void)state;
    struct sockaddr_in6 b;
    struct sockaddr_in a;
    const char *list = "2001:db8::/32, ::1, 10.0.0.0/8";
    assert_true(ch_cidr_list_valid(list));
    assert_true(ch_cidr_list_match(list, v6("2001:db8:ffff::1", &b)));
    assert_false(ch_cidr_list_match(list, v6("2001:db9::1", &b)));
    assert_true(ch_cidr_list_match(list, v6("::1", &b)));
    assert_false(ch_cidr_list_match(list, v6("::2", &b)));
    assert_true(ch_cidr_list_match(list, v6("::ffff:10.1.1.1", &b))); /* IPv4-mapped */
    assert_false(ch_cidr_list_match(list, v6("::ffff:11.1.1.1", &b)));
    assert_false(ch_cidr_list_match("2001:db8::/32", v4("32.1.13.184", &a))); /* no mixing */
    assert_true(ch_cidr_list_match("2001:db8:8000::/33", v6("2001:db8:8000::5", &b)));
    assert_false(ch_cidr_list_match("2001:db8:8000::/33", v6("2001:db8:7fff::5", &b)));
    char text[64];
    ch_addr_format(v6("2001:db8::1", &b), text, sizeof text);
    assert_string_equal(text, "2001:db8::1");
}

static void cidr_rejects_bad_entries(void **state)
{
    (void)state;
    struct sockaddr_in a;
    assert_true(ch_cidr_list_valid("10.0.0.0/8,")); /* an empty entry is ignored */
    const char *bad[] = {"10.0.0.0/33", "10.0.0/8",       "10.0.0.0/",     "10.0.0.0/8x",
                         "256.0.0.1",   "2001:db8::/129", "2001:zz8::/32", "not-an-ip",
                         "10.0.0.0/-1", "10.0.0.0/8,x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (ch_cidr_list_valid(bad[i])) fail_msg("accepted \"%s\"", bad[i]);
        /* a list that does not parse never matches */
        if (ch_cidr_list_match(bad[i], v4("10.0.0.1", &a))) fail_msg("matched \"%s\"", bad[i]);
    }
}

/* ---- crypto ----------------------------------------------------------------------------- */

static void sha256_vectors(void **state)
{
    (void)state;
    char hex[CH_SHA256_HEX];
    ch_sha256_hex("abc", 3, hex); /* FIPS 180-2, appendix B.1 */
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ch_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* B.2 */
    ch_sha256_hex(m, strlen(m), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    unsigned char raw[32];
    ch_sha256("abc", 3, raw);
    assert_int_equal(raw[0], 0xba);
    assert_int_equal(raw[31], 0xad);
}

static void constant_time_compare(void **state)
{
    (void)state;
    assert_true(ch_ct_equal("secret", 6, "secret", 6));
    assert_false(ch_ct_equal("secret", 6, "Secret", 6)); /* first byte */
    assert_false(ch_ct_equal("secret", 6, "secreT", 6)); /* last byte */
    assert_false(ch_ct_equal("secret", 6, "secret!", 7));
    assert_false(ch_ct_equal("secret", 6, "secre", 5)); /* a prefix is not equal */
    assert_true(ch_ct_equal("", 0, "", 0));
    assert_true(ch_ct_equal("a\0b", 3, "a\0b", 3)); /* bytes, not C strings */
    assert_false(ch_ct_equal("a\0b", 3, "a\0c", 3));
}

static void argon2id_hash_and_verify(void **state)
{
    (void)state;
    assert_int_equal(ch_crypto_init(), CH_OK);
    char enc[CH_PWHASH_MAX];
    assert_int_equal(ch_password_hash("correct horse", enc), CH_OK);
    assert_true(strncmp(enc, "$argon2id$", 10) == 0);
    assert_null(strstr(enc, "correct horse"));
    assert_true(ch_password_verify(enc, "correct horse"));
    assert_false(ch_password_verify(enc, "correct horsE"));
    assert_false(ch_password_verify(enc, "correct horse "));
    assert_false(ch_password_verify(enc, ""));
    assert_false(ch_password_verify("not a hash", "correct horse"));
    assert_false(ch_password_verify(NULL, "correct horse"));
    char enc2[CH_PWHASH_MAX];
    assert_int_equal(ch_password_hash("correct horse", enc2), CH_OK);
    assert_string_not_equal(enc, enc2); /* salted */
    assert_true(ch_password_verify(enc2, "correct horse"));

    char tok[80], tok2[80], hex[33];
    ch_random_token(tok, sizeof tok, 24);
    ch_random_token(tok2, sizeof tok2, 24);
    assert_int_equal(strlen(tok), 32); /* 24 bytes = 32 base64url characters, no padding */
    assert_int_equal(
        strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 32);
    assert_string_not_equal(tok, tok2);
    ch_random_hex(hex, 16);
    assert_int_equal(strlen(hex), 32);
    assert_int_equal(strspn(hex, "0123456789abcdef"), 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_result_code_has_a_phrase),
        cmocka_unit_test(phone_cache_keeps_every_answer),
        cmocka_unit_test(buf_enforces_its_ceiling),
        cmocka_unit_test(buf_grows_past_its_first_allocation),
        cmocka_unit_test(buf_steal_of_an_empty_buffer_is_an_empty_string),
        cmocka_unit_test(rfc3339_with_offsets),
        cmocka_unit_test(format_round_trips),
        cmocka_unit_test(pbx_local_time_in_jerusalem_across_dst),
        cmocka_unit_test(ambiguous_local_times_do_not_depend_on_history),
        cmocka_unit_test(calendar_month_in_a_zone),
        cmocka_unit_test(phone_numbers_to_e164),
        cmocka_unit_test(cidr_ipv4),
        cmocka_unit_test(cidr_ipv6),
        cmocka_unit_test(cidr_rejects_bad_entries),
        cmocka_unit_test(sha256_vectors),
        cmocka_unit_test(constant_time_compare),
        cmocka_unit_test(argon2id_hash_and_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
