/* Provider signatures against the vectors in the providers reference: Twilio's official test
 * vector (and its port and repeated-parameter variants), Retell's recomputed fixture with its
 * 5-minute window, Vapi's shared secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "providers/provider.h"
#include "util/result.h"

#include <string.h>
#include <strings.h>

typedef struct {
    const char *name, *value;
} hdr;

static const char *get_header(void *ctx, const char *name)
{
    for (const hdr *h = ctx; h->name; h++)
        if (strcasecmp(h->name, name) == 0) return h->value;
    return NULL;
}

static int check(const char *provider, const char *url, const char *ct, const char *body,
                 hdr *headers, int64_t now, const char *secret)
{
    const ch_provider *p = ch_provider_find(provider);
    assert_non_null(p);
    assert_non_null(p->verify);
    ch_raw_request req = {.content_type = ct,
                          .body = body,
                          .body_len = strlen(body),
                          .url = url,
                          .header = get_header,
                          .header_ctx = headers,
                          .now_ms = now};
    return p->verify(&req, secret);
}

#define FORM "application/x-www-form-urlencoded"
static const char *twilio_body = "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234"
                                 "&From=%2B14158675309&To=%2B18005551212";

static void twilio_official_vector(void **state)
{
    (void)state;
    hdr h[] = {{"X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8="}, {0}};
    const char *url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    assert_int_equal(check("twilio", url, FORM, twilio_body, h, 0, "12345"), CH_OK);
    /* the same request signed with :443 is accepted at the URL without it, and vice versa */
    hdr h443[] = {{"X-Twilio-Signature", "kvajT1Ptam85bY51eRf/AJRuM3w="}, {0}};
    assert_int_equal(check("twilio", url, FORM, twilio_body, h443, 0, "12345"), CH_OK);
    assert_int_equal(check("twilio", "https://mycompany.com:443/myapp.php?foo=1&bar=2", FORM,
                           twilio_body, h, 0, "12345"),
                     CH_OK);
    hdr h80[] = {{"X-Twilio-Signature", "0ZXoZLH/DfblKGATFgpif+LLRf4="}, {0}};
    assert_int_equal(check("twilio", "http://mycompany.com/myapp.php?foo=1&bar=2", FORM,
                           twilio_body, h80, 0, "12345"),
                     CH_OK);
    /* parameter order in the body does not matter; a changed value, token or URL does */
    const char *reordered = "To=%2B18005551212&From=%2B14158675309&Digits=1234"
                            "&Caller=%2B14158675309&CallSid=CA1234567890ABCDE";
    assert_int_equal(check("twilio", url, FORM, reordered, h, 0, "12345"), CH_OK);
    const char *changed = "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1235"
                          "&From=%2B14158675309&To=%2B18005551212";
    assert_int_equal(check("twilio", url, FORM, changed, h, 0, "12345"), CH_EAUTH);
    assert_int_equal(check("twilio", url, FORM, twilio_body, h, 0, "12346"), CH_EAUTH);
    assert_int_equal(check("twilio", "https://mycompany.com/myapp.php?foo=1&bar=3", FORM,
                           twilio_body, h, 0, "12345"),
                     CH_EAUTH);
    hdr none[] = {{0}};
    assert_int_equal(check("twilio", url, FORM, twilio_body, none, 0, "12345"), CH_EAUTH);
}

static void twilio_repeated_parameters_and_json_body(void **state)
{
    (void)state;
    hdr h[] = {{"X-Twilio-Signature", "IK+Dwps556ElfBT0I3Rgjkr1wJU="}, {0}};
    assert_int_equal(check("twilio", "https://mycompany.com/myapp.php?foo=1&bar=2", FORM,
                           "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234", h, 0, "12345"),
                     CH_OK);
    hdr hj[] = {{"X-Twilio-Signature", "a9nBmqA0ju/hNViExpshrM61xv4="}, {0}};
    const char *jurl = "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256="
                       "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    assert_int_equal(check("twilio", jurl, "application/json",
                           "{\"property\": \"value\", \"boolean\": true}", hj, 0, "12345"),
                     CH_OK);
    assert_int_equal(check("twilio", jurl, "application/json",
                           "{\"property\": \"value\", \"boolean\": false}", hj, 0, "12345"),
                     CH_EAUTH);
}

static const char *retell_body =
    "{\"event\":\"call_ended\",\"call\":{\"call_id\":\"Jabr9TXYYJHfvl6Syypi88rdAHYHmcq6\","
    "\"agent_id\":\"oBeDLoLOeuAbiuaMFXRtDOLriTJ5tSxD\",\"call_type\":\"phone_call\","
    "\"call_status\":\"ended\",\"direction\":\"outbound\",\"from_number\":\"+12137771234\","
    "\"to_number\":\"+12137771235\",\"start_timestamp\":1714608475945,\"end_timestamp\":"
    "1714608491736,\"duration_ms\":15791,\"disconnection_reason\":\"user_hangup\",\"transcript\":"
    "\"Agent: hi how are you doing?\\nUser: Doing pretty well. How are you?\",\"recording_url\":"
    "\"https://retellai.s3.us-west-2.amazonaws.com/Jabr9TXYYJHfvl6Syypi88rdAHYHmcq6/"
    "recording.wav\",\"metadata\":{}}}";

static void retell_fixture_and_window(void **state)
{
    (void)state;
    hdr h[] = {
        {"x-retell-signature",
         "v=1714608492000,d=4c2c0b3e87c312519e19737388997db2fff777e514f961d0bb7fa179596be3a9"},
        {0}};
    const char *key = "key_test_retell_webhook";
    int64_t v = 1714608492000LL;
    assert_int_equal(check("retell", NULL, "application/json", retell_body, h, v + 1000, key),
                     CH_OK);
    assert_int_equal(check("retell", NULL, "application/json", retell_body, h, v - 299000, key),
                     CH_OK);
    assert_int_equal(check("retell", NULL, "application/json", retell_body, h, v + 301000, key),
                     CH_EAUTH); /* stale */
    assert_int_equal(check("retell", NULL, "application/json", retell_body, h, v, "other-key"),
                     CH_EAUTH);
    char changed[2048];
    strcpy(changed, retell_body);
    changed[strlen(changed) - 3] = ' '; /* one byte */
    assert_int_equal(check("retell", NULL, "application/json", changed, h, v, key), CH_EAUTH);
    hdr bad[] = {{"x-retell-signature", "v=1714608492000,d=zz"}, {0}};
    assert_int_equal(check("retell", NULL, "application/json", retell_body, bad, v, key), CH_EAUTH);
}

static void vapi_secret(void **state)
{
    (void)state;
    hdr ok[] = {{"x-vapi-secret", "vapi-server-secret-1"}, {0}};
    hdr wrong[] = {{"x-vapi-secret", "vapi-server-secret-2"}, {0}};
    hdr none[] = {{0}};
    assert_int_equal(check("vapi", NULL, "application/json", "{}", ok, 0, "vapi-server-secret-1"),
                     CH_OK);
    assert_int_equal(
        check("vapi", NULL, "application/json", "{}", wrong, 0, "vapi-server-secret-1"), CH_EAUTH);
    assert_int_equal(check("vapi", NULL, "application/json", "{}", none, 0, "vapi-server-secret-1"),
                     CH_EAUTH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(twilio_official_vector),
        cmocka_unit_test(twilio_repeated_parameters_and_json_body),
        cmocka_unit_test(retell_fixture_and_window),
        cmocka_unit_test(vapi_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
