/* The Cookie header parser and the session cookie's attributes (src/http/cookie.h): worked by
 * hand, one case per rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http/cookie.h"
#include "util/result.h"

#include <string.h>

static void cookie_values_are_found_by_exact_name(void **state)
{
    (void)state;
    char v[64];
    assert_int_equal(ch_cookie_get("a=1; __Host-callhook_session=abc; b=2",
                                   "__Host-callhook_session", v, sizeof v),
                     CH_OK);
    assert_string_equal(v, "abc");
    /* first of two wins; spaces around '=' and ';' do not count; quotes are stripped */
    assert_int_equal(ch_cookie_get("x = 1 ;x=2", "x", v, sizeof v), CH_OK);
    assert_string_equal(v, "1");
    assert_int_equal(ch_cookie_get("y=\"q\"", "y", v, sizeof v), CH_OK);
    assert_string_equal(v, "q");
    /* a name that only ends or starts like the wanted one is another cookie */
    assert_int_equal(
        ch_cookie_get("xcallhook_session=1; callhook_sessionx=2", "callhook_session", v, sizeof v),
        CH_ENOTFOUND);
    assert_int_equal(ch_cookie_get("callhook_session", "callhook_session", v, sizeof v),
                     CH_ENOTFOUND);
    assert_int_equal(ch_cookie_get(NULL, "a", v, sizeof v), CH_ENOTFOUND);
    assert_int_equal(ch_cookie_get("", "a", v, sizeof v), CH_ENOTFOUND);
    assert_int_equal(ch_cookie_get("a=", "a", v, sizeof v), CH_OK);
    assert_string_equal(v, "");
    /* a value that does not fit is refused, not cut */
    assert_int_equal(ch_cookie_get("a=123456", "a", v, 4), CH_ETOOBIG);
}

static void session_ids_have_one_shape(void **state)
{
    (void)state;
    assert_true(ch_session_id_ok("UEKVJccgHlLiDNrgDBQ8CA"));
    assert_true(ch_session_id_ok("abcdefghij-_0123456789"));
    assert_false(ch_session_id_ok("UEKVJccgHlLiDNrgDBQ8C"));   /* 21 */
    assert_false(ch_session_id_ok("UEKVJccgHlLiDNrgDBQ8CAA")); /* 23 */
    assert_false(ch_session_id_ok("UEKVJccgHlLiDNrgDBQ8C="));  /* padding */
    assert_false(ch_session_id_ok("UEKVJccgHlLiDNrgDBQ8C+"));  /* base64, not base64url */
    assert_false(ch_session_id_ok(""));
}

static void loopback_hosts_are_secure_contexts(void **state)
{
    (void)state;
    assert_true(ch_host_is_loopback("127.0.0.1"));
    assert_true(ch_host_is_loopback("127.0.0.1:8080"));
    assert_true(ch_host_is_loopback("localhost:8080"));
    assert_true(ch_host_is_loopback("LocalHost"));
    assert_true(ch_host_is_loopback("[::1]:8080"));
    assert_true(ch_host_is_loopback("[::1]"));
    assert_false(ch_host_is_loopback("127.0.0.10"));
    assert_false(ch_host_is_loopback("localhost.example.com"));
    assert_false(ch_host_is_loopback("example.com"));
    assert_false(ch_host_is_loopback("[::2]:80"));
    assert_false(ch_host_is_loopback("[::1]x"));
    assert_false(ch_host_is_loopback("::1"));
    assert_false(ch_host_is_loopback(NULL));
}

static void the_session_cookie_carries_its_attributes(void **state)
{
    (void)state;
    char c[192];
    ch_session_set_cookie(c, sizeof c, "UEKVJccgHlLiDNrgDBQ8CA", true, 43200);
    assert_string_equal(c, "__Host-callhook_session=UEKVJccgHlLiDNrgDBQ8CA; Path=/; HttpOnly; "
                           "SameSite=Strict; Secure; Max-Age=43200");
    ch_session_set_cookie(c, sizeof c, "UEKVJccgHlLiDNrgDBQ8CA", false, 60);
    assert_string_equal(
        c,
        "callhook_session=UEKVJccgHlLiDNrgDBQ8CA; Path=/; HttpOnly; SameSite=Strict; Max-Age=60");
    ch_session_set_cookie(c, sizeof c, NULL, true, 99);
    assert_string_equal(
        c, "__Host-callhook_session=; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cookie_values_are_found_by_exact_name),
        cmocka_unit_test(session_ids_have_one_shape),
        cmocka_unit_test(loopback_hosts_are_secure_contexts),
        cmocka_unit_test(the_session_cookie_carries_its_attributes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
