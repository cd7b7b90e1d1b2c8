/* The client behind trusted proxies (src/http/client.h) and the keys limits use, and the
 * throttle of failed authentications (src/http/auth.h): worked by hand, one case per rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http/auth.h"
#include "http/client.h"
#include "util/cidr.h"
#include "util/crypto.h"
#include "util/result.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static struct sockaddr_storage addr(const char *text)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &a4->sin_addr) == 1)
        a4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &a6->sin6_addr) == 1)
        a6->sin6_family = AF_INET6;
    return ss;
}

static void expect_client(const char *peer, const char *xff, const char *fwd, const char *want)
{
    const char *trusted = "127.0.0.1/32,10.0.0.0/8";
    struct sockaddr_storage p = addr(peer), out;
    ch_client_resolve((struct sockaddr *)&p, trusted, xff, fwd, &out);
    char got[64];
    ch_addr_format((struct sockaddr *)&out, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("peer %s xff %s fwd %s: got %s, want %s", peer, xff ? xff : "-", fwd ? fwd : "-",
                 got, want);
}

static void headers_believed_only_from_trusted_proxies(void **state)
{
    (void)state;
    expect_client("198.51.100.9", "203.0.113.7", NULL, "198.51.100.9");
    expect_client("127.0.0.1", "203.0.113.7", NULL, "203.0.113.7");
    expect_client("127.0.0.1", NULL, NULL, "127.0.0.1");
}

static void forwarded_for_is_read_from_the_right(void **state)
{
    (void)state;
    /* the client wrote the left part; the proxies appended the rest */
    expect_client("127.0.0.1", "6.6.6.6, 203.0.113.7", NULL, "203.0.113.7");
    expect_client("127.0.0.1", "6.6.6.6, 203.0.113.7, 10.1.2.3", NULL, "203.0.113.7");
    expect_client("127.0.0.1", "10.1.2.3, 10.4.5.6", NULL, "10.1.2.3");
    expect_client("127.0.0.1", "203.0.113.7:4711", NULL, "203.0.113.7");
    expect_client("127.0.0.1", "[2001:db8::5]:80", NULL, "2001:db8::5");
    /* garbage ends the walk at the last trusted hop */
    expect_client("127.0.0.1", "203.0.113.7, unknown", NULL, "127.0.0.1");
    expect_client("127.0.0.1", "203.0.113.7, unknown, 10.0.0.9", NULL, "10.0.0.9");
    /* Forwarded only without X-Forwarded-For */
    expect_client("127.0.0.1", NULL, "for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60");
    expect_client("127.0.0.1", NULL, "for=\"[2001:db8:cafe::17]:4711\", for=10.0.0.1",
                  "2001:db8:cafe::17");
    expect_client("127.0.0.1", "203.0.113.7", "for=192.0.2.60", "203.0.113.7");
    expect_client("127.0.0.1", NULL, "proto=https", "127.0.0.1");
}

static void keys_are_ipv4_or_an_ipv6_64(void **state)
{
    (void)state;
    unsigned char a[16], b[16], c[16], m[16];
    struct sockaddr_storage x = addr("2001:db8:1:2::1"), y = addr("2001:db8:1:2:ffff::9"),
                            z = addr("2001:db8:1:3::1"), v4 = addr("192.0.2.1"),
                            mapped = addr("::ffff:192.0.2.1");
    ch_client_key((struct sockaddr *)&x, a);
    ch_client_key((struct sockaddr *)&y, b);
    ch_client_key((struct sockaddr *)&z, c);
    assert_memory_equal(a, b, 16);
    assert_memory_not_equal(a, c, 16);
    ch_client_key((struct sockaddr *)&v4, a);
    ch_client_key((struct sockaddr *)&mapped, m);
    assert_memory_equal(a, m, 16);
    struct sockaddr_storage v4b = addr("192.0.2.2");
    ch_client_key((struct sockaddr *)&v4b, b);
    assert_memory_not_equal(a, b, 16);
}

static void failures_lock_out_a_scope_and_then_the_address(void **state)
{
    (void)state;
    ch_auth *a =
        ch_auth_new(&(ch_auth_opts){.fail_limit = 3, .addr_fail_limit = 5, .window_sec = 60});
    struct sockaddr_storage p = addr("192.0.2.1"), q = addr("192.0.2.2");
    struct sockaddr *pa = (struct sockaddr *)&p, *qa = (struct sockaddr *)&q;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ch_auth_lockout(a, pa, "alpha"), 0);
        ch_auth_failed(a, pa, "alpha");
    }
    int wait = ch_auth_lockout(a, pa, "alpha");
    assert_true(wait >= 1 && wait <= 60);
    assert_int_equal(ch_auth_lockout(a, pa, "beta"), 0);  /* another tenant */
    assert_int_equal(ch_auth_lockout(a, qa, "alpha"), 0); /* another client */
    ch_auth_failed(a, pa, "beta");
    ch_auth_failed(a, pa, "gamma");
    /* 5 failures from the address in all: every scope is locked for it, not for others */
    assert_true(ch_auth_lockout(a, pa, "delta") > 0);
    assert_int_equal(ch_auth_lockout(a, qa, "delta"), 0);
    ch_auth_free(a);
}

/* A dashboard sign-in for an email that names no user is verified once against the stand-in
 * hash (the same cost as a wrong password), then refused; a known user's password goes to a
 * verification thread, and its verdict is read back by the request. */
static void unknown_emails_cost_one_stand_in_verification(void **state)
{
    (void)state;
    ch_auth *a = ch_auth_new(&(ch_auth_opts){.verify_threads = 1});
    ch_verify v = {0};
    assert_int_equal(ch_auth_password(a, NULL, "guess", &v), CH_EAGAIN);
    assert_non_null(v.password);
    assert_null(v.stored);
    ch_verify_finish(&v, false);
    assert_true(v.standin_done);
    assert_null(v.password); /* the copy is wiped and freed once judged */
    assert_int_equal(ch_auth_password(a, NULL, "guess", &v), CH_EAUTH);
    ch_verify_clear(&v);

    char hash[CH_PWHASH_MAX];
    assert_int_equal(ch_password_hash("right one", hash), CH_OK);
    assert_int_equal(ch_auth_password(a, hash, "wrong one", &v), CH_EAGAIN);
    assert_string_equal(v.stored, hash);
    ch_verify_finish(&v, false);
    assert_int_equal(ch_auth_password(a, hash, "wrong one", &v), CH_EAUTH);
    assert_int_equal(ch_auth_password(a, hash, "right one", &v), CH_EAGAIN);
    ch_verify_finish(&v, true);
    assert_int_equal(ch_auth_password(a, hash, "right one", &v), CH_OK);
    ch_verify_clear(&v);
    /* without a request to wait in, an unverified password is wrong */
    assert_int_equal(ch_auth_password(a, hash, "right one", NULL), CH_EAUTH);
    ch_auth_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(headers_believed_only_from_trusted_proxies),
        cmocka_unit_test(forwarded_for_is_read_from_the_right),
        cmocka_unit_test(keys_are_ipv4_or_an_ipv6_64),
        cmocka_unit_test(failures_lock_out_a_scope_and_then_the_address),
        cmocka_unit_test(unknown_emails_cost_one_stand_in_verification),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
