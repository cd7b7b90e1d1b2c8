/* Outbound webhooks' pure parts: the Standard Webhooks signature (the specification's own test
 * vector), the SSRF verdict for every refused range and for public addresses, retry schedules
 * and Retry-After, and the lifecycle events a change of a call causes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "delivery/endpoint.h"
#include "delivery/schedule.h"
#include "delivery/sign.h"
#include "delivery/ssrf.h"
#include "core/lifecycle.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* ---- signatures ------------------------------------------------------------------------- */

static void sign_matches_the_standard_webhooks_vector(void **state)
{
    (void)state;
    /* from the Standard Webhooks specification (../shared/reference/delivery.md) */
    const char *body = "{\"test\": 2432232314}";
    char sig[CH_WEBHOOK_SIG_MAX];
    assert_int_equal(ch_webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                     "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body),
                                     sig),
                     CH_OK);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* any change of id, time or body changes the signature */
    char other[CH_WEBHOOK_SIG_MAX];
    ch_webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                    1614265331, body, strlen(body), other);
    assert_string_not_equal(sig, other);
    ch_webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                    1614265330, body, strlen(body) - 1, other);
    assert_string_not_equal(sig, other);
    /* a secret that is not base64 is refused, not used */
    assert_int_equal(ch_webhook_sign("whsec_!!!", "m", 1, "x", 1, other), CH_EINVAL);
    assert_int_equal(ch_webhook_sign("whsec_", "m", 1, "x", 1, other), CH_EINVAL);
}

/* ---- SSRF ------------------------------------------------------------------------------- */

static const char *verdict(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1) fail_msg("bad test address %s", ip);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        if (inet_pton(AF_INET, ip, &a->sin_addr) != 1) fail_msg("bad test address %s", ip);
    }
    return ch_ssrf_blocked_reason((struct sockaddr *)&ss);
}

static void ssrf_refuses_every_non_public_range(void **state)
{
    (void)state;
    static const struct {
        const char *ip, *why;
    } refused[] = {
        {"0.0.0.0", "this network"},
        {"10.0.0.1", "private (10."},
        {"10.255.255.255", "private (10."},
        {"100.64.0.1", "CGNAT"},
        {"100.127.255.254", "CGNAT"},
        {"127.0.0.1", "loopback"},
        {"127.255.0.9", "loopback"},
        {"169.254.169.254", "link-local"},
        {"172.16.0.1", "private (172.16."},
        {"172.31.255.255", "private (172.16."},
        {"192.0.0.8", "IETF"},
        {"192.0.2.1", "documentation"},
        {"192.168.0.1", "private (192.168."},
        {"198.18.0.1", "benchmarking"},
        {"198.19.255.255", "benchmarking"},
        {"198.51.100.7", "documentation"},
        {"203.0.113.9", "documentation"},
        {"224.0.0.1", "multicast"},
        {"239.255.255.250", "multicast"},
        {"240.0.0.1", "reserved"},
        {"255.255.255.255", "broadcast"},
        {"::", "unspecified"},
        {"::1", "loopback"},
        {"fc00::1", "unique local"},
        {"fdff:ffff::1", "unique local"},
        {"fe80::1", "link-local"},
        {"fec0::1", "site-local"},
        {"ff02::1", "multicast"},
        {"2001:db8::1", "documentation"},
        {"::ffff:127.0.0.1", "IPv4-mapped: loopback"},
        {"::ffff:10.0.0.1", "IPv4-mapped: private"},
        {"::ffff:169.254.169.254", "IPv4-mapped: link-local"},
        {"64:ff9b::a9fe:a9fe", "NAT64: link-local"},
        {"2002:7f00:1::1", "6to4: loopback"},
        {"2002:c0a8:101::1", "6to4: private"},
        {"64:ff9b:1::1", "local-use NAT64"},
        {"100::1", "discard-only"},
        {"4000::1", "reserved"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        const char *why = verdict(refused[i].ip);
        if (!why || !strstr(why, refused[i].why))
            fail_msg("%s: expected '%s', got '%s'", refused[i].ip, refused[i].why,
                     why ? why : "(allowed)");
    }
    /* public unicast passes, right next to the refused ranges too */
    static const char *const public[] = {
        "8.8.8.8",
        "1.1.1.1",
        "9.255.255.255",
        "11.0.0.1",
        "100.63.255.255",
        "100.128.0.1",
        "126.255.255.255",
        "128.0.0.1",
        "169.253.255.255",
        "172.15.255.255",
        "172.32.0.1",
        "192.167.255.255",
        "192.169.0.1",
        "198.17.255.255",
        "198.20.0.1",
        "223.255.255.254",
        "2606:4700:4700::1111",
        "2a00:1450:4001::200e",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    };
    for (size_t i = 0; i < sizeof public / sizeof *public; i++) {
        const char *why = verdict(public[i]);
        if (why) fail_msg("%s is public but was refused: %s", public[i], why);
    }
}

/* ---- schedules and Retry-After ---------------------------------------------------------- */

static void the_default_schedule_is_at_least_8_attempts_over_27_hours(void **state)
{
    (void)state;
    ch_retry_schedule s;
    char err[200];
    assert_int_equal(ch_retry_schedule_parse(ch_retry_schedule_default, &s, err, sizeof err),
                     CH_OK);
    assert_true(s.n + 1 >= 8);
    int64_t total = 0, least = 0;
    for (int i = 1; i <= s.n; i++) {
        total += ch_retry_delay(&s, i, 0.5);
        least += ch_retry_delay(&s, i, 0.0); /* the most negative jitter */
    }
    assert_true(total >= 27LL * 3600 * 1000);
    assert_true(least >= 27LL * 3600 * 1000 * 8 / 10);
    assert_int_equal(ch_retry_delay(&s, s.n + 1, 0.5), -1);
    assert_int_equal(ch_retry_delay(&s, 0, 0.5), -1);
}

static void schedules_parse_and_jitter_stays_within_20_percent(void **state)
{
    (void)state;
    ch_retry_schedule s;
    char err[200];
    assert_int_equal(ch_retry_schedule_parse(" 250ms, 5s ,2m,1h,1d", &s, err, sizeof err), CH_OK);
    assert_int_equal(s.n, 5);
    const int64_t want[] = {250, 5000, 120000, 3600000, 86400000};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(s.delay_ms[i], want[i]);
        assert_int_equal(ch_retry_delay(&s, i + 1, 0.5), want[i]);
        assert_int_equal(ch_retry_delay(&s, i + 1, 0.0), want[i] * 8 / 10);
        int64_t hi = ch_retry_delay(&s, i + 1, 0.999999);
        assert_true(hi <= want[i] * 12 / 10 && hi >= want[i] * 119 / 100);
    }
    const char *bad[] = {"",   ",",  "5",      "5x",    "-5s",
                         "0s", "8d", "5s,,5s", "1s 2s", "99999999999999999999s"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        if (ch_retry_schedule_parse(bad[i], &s, err, sizeof err) != CH_EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        assert_true(strlen(err) > 10);
    }
    char many[400] = "";
    for (int i = 0; i <= CH_RETRY_MAX; i++)
        strcat(many, i ? ",1s" : "1s");
    assert_int_equal(ch_retry_schedule_parse(many, &s, err, sizeof err), CH_EINVAL);
}

static void a_tenant_schedule_waits_at_least_a_second(void **state)
{
    (void)state;
    ch_retry_schedule s;
    char err[200];
    assert_int_equal(ch_retry_schedule_parse("1s,1000ms,5m", &s, err, sizeof err), CH_OK);
    assert_int_equal(ch_retry_schedule_tenant_check(&s, err, sizeof err), CH_OK);
    assert_int_equal(ch_retry_schedule_parse("5s,999ms", &s, err, sizeof err), CH_OK);
    assert_int_equal(ch_retry_schedule_tenant_check(&s, err, sizeof err), CH_EINVAL);
    assert_non_null(strstr(err, "entry 2 of the retry schedule (999 ms)"));
    ch_retry_schedule_tenant_floor(&s);
    assert_int_equal(s.delay_ms[0], 5000);
    assert_int_equal(s.delay_ms[1], 1000);
}

static void endpoint_headers_refuse_hop_by_hop_framing_and_our_own(void **state)
{
    (void)state;
    const char *refused[] = {"Connection: close",
                             "keep-alive: 5",
                             "Proxy-Connection: x",
                             "TRANSFER-ENCODING: chunked",
                             "TE: trailers",
                             "Trailer: x",
                             "Upgrade: h2c",
                             "Content-Length: 3",
                             "Host: evil",
                             "Expect: 100-continue",
                             "Proxy-Authorization: x",
                             "Content-Type: a/b",
                             "Content-Encoding: gzip",
                             "webhook-signature: v1,x"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        const char *why = ch_endpoint_header_problem(refused[i]);
        if (!why) fail_msg("'%s' was accepted", refused[i]);
        char bare[40], quoted[44];
        snprintf(bare, sizeof bare, "%.*s", (int)strcspn(refused[i], ":"), refused[i]);
        snprintf(quoted, sizeof quoted, "'%s'", bare);
        if (!strstr(why, quoted)) fail_msg("'%s' does not name %s", why, quoted);
        assert_false(ch_endpoint_header_allowed(bare)); /* and not sent when already stored */
    }
    assert_null(ch_endpoint_header_problem("Authorization: Bearer x"));
    assert_null(ch_endpoint_header_problem("X-Team: sales"));
    assert_true(ch_endpoint_header_allowed("User-Agent"));
    assert_non_null(ch_endpoint_header_problem("X-A: b\r\nX-B: c"));
    assert_non_null(ch_endpoint_header_problem("no colon"));
}

static void retry_after_takes_seconds_and_http_dates(void **state)
{
    (void)state;
    /* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 s (RFC 9110's example) */
    const int64_t now = 784111777000LL;
#define RA(s) ch_retry_after_ms((s), strlen(s), now)
    assert_int_equal(RA("120"), 120000);
    assert_int_equal(RA("0"), 0);
    assert_int_equal(RA("Sun, 06 Nov 1994 08:50:37 GMT"), 60000);
    assert_int_equal(RA("Sunday, 06-Nov-94 08:51:37 GMT"), 120000);
    assert_int_equal(RA("Sun Nov  6 08:52:37 1994"), 180000);
    assert_int_equal(RA("Sun, 06 Nov 1994 08:00:00 GMT"), 0); /* in the past */
    assert_int_equal(RA("999999999"), 24LL * 3600 * 1000);    /* capped at a day */
    const char *bad[] = {"",
                         " ",
                         "-1",
                         "1.5",
                         "soon",
                         "Sun, 32 Nov 1994 08:49:37 GMT",
                         "Sun, 06 Nov 1994 25:49:37 GMT",
                         "12abc"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (RA(bad[i]) != -1) fail_msg("'%s' gave %lld", bad[i], (long long)RA(bad[i]));
    assert_int_equal(ch_retry_after_ms("12\0"
                                       "3",
                                       4, now),
                     -1); /* a NUL inside */
#undef RA
    /* a receiver can lengthen the wait, never shorten it, and never past 10 hours */
    assert_int_equal(ch_retry_slowdown(5000, 0), 5000);
    assert_int_equal(ch_retry_slowdown(5000, 60000), 60000);
    assert_int_equal(ch_retry_slowdown(5000, -1), 5000);
    assert_int_equal(ch_retry_slowdown(5000, 48LL * 3600 * 1000), 10LL * 3600 * 1000);
}

/* ---- lifecycle events ------------------------------------------------------------------- */

static void plan(const ch_call_before *b, ch_status st, ch_disposition d, bool rec, int64_t hash,
                 ch_call_plan *p)
{
    ch_callstate c;
    ch_callstate_init(&c);
    c.status = st;
    c.disposition = d;
    c.recording_url = rec ? "https://rec.example/1.mp3" : NULL;
    ch_lifecycle_plan(b, &c, hash, p);
}

static void assert_types(const ch_call_plan *p, const char *const *want, int n)
{
    if (p->n != n) fail_msg("%d events, expected %d", p->n, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(p->types[i], want[i]);
}

static void events_follow_the_call_and_each_happens_once(void **state)
{
    (void)state;
    ch_call_plan p;
    /* a new ringing call */
    ch_call_before b = {.is_new = true};
    plan(&b, CH_STATUS_RINGING, CH_DISP_NONE, false, 1, &p);
    assert_types(&p, (const char *[]){"call.started", "call.status_changed"}, 2);
    /* answered */
    b = (ch_call_before){.notified = p.notified, .state_hash = 1, .status = CH_STATUS_RINGING};
    plan(&b, CH_STATUS_IN_PROGRESS, CH_DISP_NONE, false, 2, &p);
    assert_types(&p, (const char *[]){"call.status_changed", "call.answered"}, 2);
    /* the same again: nothing */
    b = (ch_call_before){.notified = p.notified, .state_hash = 2, .status = CH_STATUS_IN_PROGRESS};
    plan(&b, CH_STATUS_IN_PROGRESS, CH_DISP_NONE, false, 2, &p);
    assert_int_equal(p.n, 0);
    /* ended with a recording: recording, ended, completed */
    plan(&b, CH_STATUS_ENDED, CH_DISP_ANSWERED, true, 3, &p);
    assert_types(&p,
                 (const char *[]){"call.status_changed", "call.recording_ready", "call.ended",
                                  "call.completed"},
                 4);
    /* a repeat after completion changes nothing; a real change is call.updated, once per change */
    b = (ch_call_before){.notified = p.notified, .state_hash = 3, .status = CH_STATUS_ENDED};
    plan(&b, CH_STATUS_ENDED, CH_DISP_ANSWERED, true, 3, &p);
    assert_int_equal(p.n, 0);
    plan(&b, CH_STATUS_ENDED, CH_DISP_ANSWERED, true, 4, &p);
    assert_types(&p, (const char *[]){"call.updated"}, 1);
    assert_true(p.notified & CH_NOTE_COMPLETED);
}

static void a_call_first_seen_ended_gets_every_event_at_once(void **state)
{
    (void)state;
    ch_call_plan p;
    ch_call_before b = {.is_new = true};
    plan(&b, CH_STATUS_ENDED, CH_DISP_NO_ANSWER, false, 9, &p);
    assert_types(&p,
                 (const char *[]){"call.started", "call.status_changed", "call.ended",
                                  "call.failed", "call.completed"},
                 5);
    /* a late "ringing" after the end: never a second started or completed */
    b = (ch_call_before){.notified = p.notified, .state_hash = 9, .status = CH_STATUS_ENDED};
    plan(&b, CH_STATUS_ENDED, CH_DISP_NO_ANSWER, false, 9, &p);
    assert_int_equal(p.n, 0);
    for (ch_disposition d = CH_DISP_CANCELED; d <= CH_DISP_BUSY; d++) {
        b = (ch_call_before){.is_new = true};
        plan(&b, CH_STATUS_ENDED, d, false, 1, &p);
        bool failed = false;
        for (int i = 0; i < p.n; i++)
            failed |= strcmp(p.types[i], "call.failed") == 0;
        assert_true(failed);
    }
    b = (ch_call_before){.is_new = true};
    plan(&b, CH_STATUS_ENDED, CH_DISP_ANSWERED, false, 1, &p);
    for (int i = 0; i < p.n; i++)
        assert_string_not_equal(p.types[i], "call.failed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sign_matches_the_standard_webhooks_vector),
        cmocka_unit_test(ssrf_refuses_every_non_public_range),
        cmocka_unit_test(the_default_schedule_is_at_least_8_attempts_over_27_hours),
        cmocka_unit_test(schedules_parse_and_jitter_stays_within_20_percent),
        cmocka_unit_test(retry_after_takes_seconds_and_http_dates),
        cmocka_unit_test(a_tenant_schedule_waits_at_least_a_second),
        cmocka_unit_test(endpoint_headers_refuse_hop_by_hop_framing_and_our_own),
        cmocka_unit_test(events_follow_the_call_and_each_happens_once),
        cmocka_unit_test(a_call_first_seen_ended_gets_every_event_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
