/* A source's setup as `callhook source add` prints it and GET /v1/sources lists it
 * (src/ingest/sourceinfo.h): the URL, method, content type, how it authenticates, the username,
 * the provider's fixed URLs with the tenant put in, and never a password, hash or secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ingest/sourceinfo.h"

#include <stdlib.h>
#include <string.h>

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* True when no string anywhere in o contains needle. */
static bool nowhere(json_t *o, const char *needle)
{
    char *s = json_dumps(o, JSON_COMPACT);
    bool none = strstr(s, needle) == NULL;
    free(s);
    return none;
}

static void generic_with_basic_and_token(void **state)
{
    (void)state;
    ch_credential c = {.id = 7,
                       .provider = "generic",
                       .username = "pbx",
                       .password_hash = "$argon2id$secret-hash",
                       .token_hash = "deadbeeftokenhash",
                       .allow_ips = "203.0.113.0/24"};
    json_t *o = ch_source_info("https://hooks.example.com", "acme", &c);
    assert_int_equal(json_integer_value(json_object_get(o, "id")), 7);
    assert_int_equal(json_integer_value(json_object_get(o, "credential_id")), 7);
    assert_string_equal(str(o, "url"), "https://hooks.example.com/hooks/acme/generic");
    assert_string_equal(str(o, "method"), "POST");
    assert_string_equal(str(o, "content_type"), "application/json");
    assert_string_equal(str(o, "username"), "pbx");
    assert_string_equal(str(o, "allow_ips"), "203.0.113.0/24");
    json_t *auth = json_object_get(o, "auth");
    assert_int_equal(json_array_size(auth), 3);
    assert_string_equal(json_string_value(json_array_get(auth, 0)), "basic");
    assert_string_equal(json_string_value(json_array_get(auth, 1)), "token");
    assert_string_equal(json_string_value(json_array_get(auth, 2)), "source_ip");
    assert_int_equal(json_array_size(json_object_get(o, "fixed_urls")), 0);
    assert_null(json_object_get(o, "media"));
    assert_true(nowhere(o, "secret-hash"));
    assert_true(nowhere(o, "deadbeef"));
    json_decref(o);
}

static void fixed_urls_name_the_tenant_and_media_hides_passwords(void **state)
{
    (void)state;
    ch_credential c = {.id = 2,
                       .provider = "ucm",
                       .token_hash = "x",
                       .media = "{\"api_url\":\"https://pbx.example:8089\",\"api_user\":\"cdrapi\","
                                "\"api_password\":\"hunter22\"}"};
    json_t *o = ch_source_info("http://127.0.0.1:8080", "acme", &c);
    assert_string_equal(str(o, "url"), "http://127.0.0.1:8080/hooks/acme/ucm");
    json_t *fx = json_object_get(o, "fixed_urls");
    assert_int_equal(json_array_size(fx), 1);
    assert_string_equal(json_string_value(json_array_get(fx, 0)),
                        "http://127.0.0.1:8080/api/webhook/cdr/acme");
    assert_true(json_is_null(json_object_get(o, "username"))); /* no Basic: no user to show */
    json_t *m = json_object_get(o, "media");
    assert_string_equal(str(m, "api_user"), "cdrapi");
    assert_true(json_is_true(json_object_get(m, "api_password_set")));
    assert_true(nowhere(o, "hunter22"));
    json_decref(o);

    ch_credential v = {.id = 3, .provider = "vapi", .signing_secret = "vapi-signing-secret"};
    o = ch_source_info("http://h", "acme", &v);
    json_t *auth = json_object_get(o, "auth");
    assert_int_equal(json_array_size(auth), 1);
    assert_string_equal(json_string_value(json_array_get(auth, 0)), "signature");
    assert_true(nowhere(o, "vapi-signing-secret"));
    json_decref(o);

    json_t *none = ch_source_media_public(NULL);
    assert_int_equal(json_object_size(none), 0);
    json_decref(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(generic_with_basic_and_token),
        cmocka_unit_test(fixed_urls_name_the_tenant_and_media_hides_passwords),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
