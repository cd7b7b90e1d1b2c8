/* Leaf modules: buffers with a ceiling, times and zones, phone numbers, CIDR lists, crypto. */
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
#include <string.h>

static void buf_enforces_its_ceiling(void **state)
{
    (void)state;
    ch_buf b;
    ch_buf_init(&b, 10);
    assert_int_equal(ch_buf_append(&b, "12345678", 8), CH_OK);
    assert_int_not_equal(ch_buf_append(&b, "abc", 3), CH_OK); /* 11 > 10 */
    assert_int_equal(b.len, 8);                               /* nothing half-appended */
    assert_int_equal(ch_buf_append(&b, "90", 2), CH_OK);      /* exactly 10 fits */
    assert_memory_equal(b.data, "1234567890", 10);
    assert_int_not_equal(ch_buf_printf(&b, "%d", 1), CH_OK);
    ch_buf_free(&b);
}

static int64_t parse(const char *s, const char *tz)
{
    int64_t ms = 0;
    assert_int_equal(ch_time_parse(s, tz, &ms), CH_OK);
    return ms;
}

static void times_with_offsets_and_zones(void **state)
{
    (void)state;
    /* 2024-05-14T10:15:00Z = 1715681700 s */
    assert_int_equal(parse("2024-05-14T10:15:00Z", NULL), 1715681700000LL);
    assert_int_equal(parse("2024-05-14T13:15:00+03:00", NULL), 1715681700000LL);
    assert_int_equal(parse("2024-05-14T05:15:00-0500", NULL), 1715681700000LL);
    assert_int_equal(parse("2024-05-14T10:15:00.250Z", NULL), 1715681700250LL);
    assert_int_equal(parse("2024-05-14 10:15:00", "UTC"), 1715681700000LL);
    /* PBX-local: Israel is UTC+3 in May, UTC+2 in January */
    assert_int_equal(parse("2024-05-14 13:15:00", "Asia/Jerusalem"), 1715681700000LL);
    assert_int_equal(parse("2024-01-10 09:00:00", "Asia/Jerusalem"), 1704870000000LL);
    /* around the 2026 spring switch (Fri 27 March, 02:00 → 03:00 local) */
    assert_int_equal(parse("2026-03-27 01:59:59", "Asia/Jerusalem"),
                     parse("2026-03-26T23:59:59Z", NULL));
    assert_int_equal(parse("2026-03-27 03:00:00", "Asia/Jerusalem"),
                     parse("2026-03-27T00:00:00Z", NULL));
    /* an explicit offset wins over the zone */
    assert_int_equal(parse("2024-05-14T10:15:00Z", "Asia/Jerusalem"), 1715681700000LL);
    assert_int_equal(parse("2024-02-29T00:00:00Z", NULL), 1709164800000LL); /* leap day */
    assert_int_equal(parse("2024-05-14 10:15", "UTC"), 1715681700000LL);    /* no seconds */

    int64_t ms;
    const char *bad[] = {
        "",          "2024-13-01T00:00:00Z",      "2024-02-30T00:00:00Z", "2024-05-14T25:00:00Z",
        "yesterday", "2024-05-14T10:15:00+99:00", "2023-02-29T00:00:00Z", "2024-04-31 10:00:00"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (ch_time_parse(bad[i], NULL, &ms) != CH_EINVAL) fail_msg("parsed \"%s\"", bad[i]);
    assert_false(ch_tz_valid("Not/AZone"));
    assert_true(ch_tz_valid("Asia/Jerusalem"));
}

static void time_format_and_month(void **state)
{
    (void)state;
    char out[40];
    ch_time_format(1715681700000LL, out, sizeof out);
    assert_string_equal(out, "2024-05-14T10:15:00Z");
    ch_time_format(1715681700250LL, out, sizeof out);
    assert_string_equal(out, "2024-05-14T10:15:00.250Z");
    ch_time_format_ms(1715681700000LL, out, sizeof out);
    assert_string_equal(out, "2024-05-14T10:15:00.000Z");
    char month[8];
    /* 2024-05-31T22:30Z is already June in Jerusalem (UTC+3) but May in UTC */
    int64_t t = parse("2024-05-31T22:30:00Z", NULL);
    ch_time_month(t, "UTC", month);
    assert_string_equal(month, "2024-05");
    ch_time_month(t, "Asia/Jerusalem", month);
    assert_string_equal(month, "2024-06");
}

static void phone_numbers_to_e164(void **state)
{
    (void)state;
    struct {
        const char *raw, *cc, *want;
    } ok[] = {
        {"050-123-4567", "972", "+972501234567"},     {"03-123-4567", "972", "+97231234567"},
        {"+1 (415) 555-0142", "972", "+14155550142"}, {"00 49 30 1234567", "972", "+49301234567"},
        {"(415) 555-0142", "1", "+14155550142"},      {"+44 20 7946 0958", "1", "+442079460958"},
    };
    char out[24];
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        assert_true(ch_phone_e164(ok[i].raw, ok[i].cc, out, sizeof out));
        assert_string_equal(out, ok[i].want);
    }
    const char *bad[] = {"", "hello", "+", "+12345678901234567890", "anonymous"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(ch_phone_e164(bad[i], "972", out, sizeof out));
}

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

static void cidr_lists(void **state)
{
    (void)state;
    const char *list = "10.0.0.0/8, 203.0.113.7, 2001:db8::/32";
    struct sockaddr_in a;
    struct sockaddr_in6 b;
    assert_true(ch_cidr_list_valid(list));
    assert_true(ch_cidr_list_match(list, v4("10.200.3.4", &a)));
    assert_false(ch_cidr_list_match(list, v4("11.0.0.1", &a)));
    assert_true(ch_cidr_list_match(list, v4("203.0.113.7", &a)));
    assert_false(ch_cidr_list_match(list, v4("203.0.113.8", &a)));
    assert_true(ch_cidr_list_match(list, v6("2001:db8:ffff::1", &b)));
    assert_false(ch_cidr_list_match(list, v6("2001:db9::1", &b)));
    assert_true(ch_cidr_list_match(list, v6("::ffff:10.1.1.1", &b))); /* IPv4-mapped */
    assert_true(ch_cidr_list_valid(""));
    assert_false(ch_cidr_list_match("", v4("10.0.0.1", &a)));
    assert_true(ch_cidr_list_valid("10.0.0.0/8,")); /* empty entries are ignored */
    const char *bad[] = {"10.0.0.0/33", "10.0.0/8", "2001:db8::/129", "not-an-ip", "10.0.0.0/8,x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (ch_cidr_list_valid(bad[i])) fail_msg("accepted \"%s\"", bad[i]);
}

static void crypto_primitives(void **state)
{
    (void)state;
    assert_int_equal(ch_crypto_init(), CH_OK);
    char hex[CH_SHA256_HEX];
    ch_sha256_hex("abc", 3, hex); /* FIPS 180-2 test vector */
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(ch_ct_equal("secret", 6, "secret", 6));
    assert_false(ch_ct_equal("secret", 6, "secreT", 6));
    assert_false(ch_ct_equal("secret", 6, "secret!", 7));
    char enc[CH_PWHASH_MAX];
    assert_int_equal(ch_password_hash("correct horse", enc), CH_OK);
    assert_non_null(strstr(enc, "$argon2id$"));
    assert_true(ch_password_verify(enc, "correct horse"));
    assert_false(ch_password_verify(enc, "correct horsE"));
    char enc2[CH_PWHASH_MAX];
    ch_password_hash("correct horse", enc2);
    assert_string_not_equal(enc, enc2); /* salted */
    char tok[80];
    ch_random_token(tok, sizeof tok, 24);
    char tok2[80];
    ch_random_token(tok2, sizeof tok2, 24);
    assert_true(strlen(tok) >= 32);
    assert_string_not_equal(tok, tok2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_enforces_its_ceiling),
        cmocka_unit_test(times_with_offsets_and_zones),
        cmocka_unit_test(time_format_and_month),
        cmocka_unit_test(phone_numbers_to_e164),
        cmocka_unit_test(cidr_lists),
        cmocka_unit_test(crypto_primitives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
