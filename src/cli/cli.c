#include "cli/cli.h"
#include "cli/args.h"
#include "cli/commands.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "callhook %s — durable call-record webhooks\n\n"
            "usage:\n"
            "  callhook serve [--config FILE] [--listen ADDR:PORT] [--db PATH] [--public-url URL]\n"
            "                 [--log-level debug|info|warn|error] [--log-file FILE]\n"
            "                 [--max-body BYTES] [--threads N] [--db-max-bytes N]\n"
            "  callhook tenant add SLUG [--name N] [--timezone TZ] [--country CC]\n"
            "                 [--monthly-limit N] [--hard-limit] [--features LIST]\n"
            "  callhook tenant list\n"
            "  callhook source add SLUG PROVIDER [--username U --password P] [--token T]\n"
            "                 [--secret S] [--allow-ip CIDR]... [recording options of media]\n"
            "  callhook source media SLUG SOURCE_ID [--api-url URL --api-user U\n"
            "                 --api-password P] [--insecure-tls] [--pinned-pubkey sha256//...]\n"
            "                 [--basic-user U --basic-password P [--basic-hosts H,...]]\n"
            "                 [--clear]\n"
            "  callhook source rotate SLUG SOURCE_ID password|token|secret [--value V]\n"
            "  callhook doctor SLUG [--probe-ms N]\n"
            "  callhook apikey add SLUG\n"
            "  callhook user add SLUG EMAIL [--password P] [--role admin|viewer]\n"
            "  callhook user list SLUG | remove SLUG EMAIL | passwd SLUG EMAIL [--password P]\n"
            "  callhook import asterisk-csv FILE --tenant SLUG [--utc]\n"
            "  callhook employee add SLUG EXTENSION [--name N] [--email E]\n"
            "  callhook lead add SLUG PHONE [--name N]\n"
            "  callhook employee|lead list SLUG\n"
            "  callhook endpoint add SLUG URL [--kind K] [--events LIST] [--header 'N: v']...\n"
            "                [--payload standard|flat]\n"
            "  callhook endpoint update SLUG ID [--kind K] [--events LIST] [--payload P] ...\n"
            "  callhook endpoint list SLUG | disable|enable|rotate|remove SLUG ID\n"
            "  callhook delivery list|skipped SLUG | show|replay SLUG ID\n"
            "  callhook delivery recover|test SLUG ENDPOINT_ID [--since TIME]\n"
            "  callhook delivery schedule SLUG SCHEDULE|default\n"
            "  callhook pipeline show SLUG | set SLUG [--deadline S] [--retention-days N]\n"
            "                [--STAGE-engine|url|model|key|language|prompt V]\n"
            "                [--STAGE-enabled|redo true|false] [--fields-schema FILE|JSON]\n"
            "                [--json '{...patch...}']\n"
            "  callhook dictionary add SLUG city|service NAME [--synonyms A,B]\n"
            "  callhook dictionary list SLUG | remove SLUG city|service NAME\n"
            "  callhook call trace SLUG CALL_ID\n"
            "  callhook changes [--since CURSOR] [--limit N] [--tenant SLUG]\n"
            "  callhook migrate\n"
            "  callhook demo [--listen ADDR:PORT]\n\n"
            "Every command takes --db PATH (default var/callhook.db), --config FILE, --json\n"
            "and --db-mode 0600|0640 (the database holds secrets: it is never readable by all).\n"
            "See docs/cli.md.\n",
            CH_VERSION);
}

int ch_cli_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("callhook %s\n", CH_VERSION);
        return 0;
    }
    const char *cmd = argv[1];
    const char *sub = argc > 2 ? argv[2] : "";
    if (strcmp(cmd, "serve") == 0) return ch_cmd_serve(argc - 2, argv + 2);
    if (strcmp(cmd, "migrate") == 0) return ch_cmd_migrate(argc - 2, argv + 2);
    if (strcmp(cmd, "demo") == 0) return ch_cmd_demo(argc - 2, argv + 2);
    if (strcmp(cmd, "import") == 0) return ch_cmd_import(argc - 2, argv + 2);
    if (strcmp(cmd, "changes") == 0) return ch_cmd_changes(argc - 2, argv + 2);
    if (strcmp(cmd, "endpoint") == 0 && *sub) return ch_cmd_endpoint(sub, argc - 3, argv + 3);
    if (strcmp(cmd, "delivery") == 0 && *sub) return ch_cmd_delivery(sub, argc - 3, argv + 3);
    if (strcmp(cmd, "pipeline") == 0 && *sub) return ch_cmd_pipeline(sub, argc - 3, argv + 3);
    if (strcmp(cmd, "dictionary") == 0 && *sub) return ch_cmd_dictionary(sub, argc - 3, argv + 3);
    if (strcmp(cmd, "call") == 0 && *sub) return ch_cmd_call(sub, argc - 3, argv + 3);
    if (strcmp(cmd, "user") == 0 && *sub) return ch_cmd_user(sub, argc - 3, argv + 3);
    if ((strcmp(cmd, "employee") == 0 || strcmp(cmd, "lead") == 0) && *sub)
        return ch_cmd_directory(cmd, sub, argc - 3, argv + 3);
    if (strcmp(cmd, "tenant") == 0 && strcmp(sub, "add") == 0)
        return ch_cmd_tenant_add(argc - 3, argv + 3);
    if (strcmp(cmd, "tenant") == 0 && strcmp(sub, "list") == 0)
        return ch_cmd_tenant_list(argc - 3, argv + 3);
    if (strcmp(cmd, "source") == 0 && strcmp(sub, "add") == 0)
        return ch_cmd_source_add(argc - 3, argv + 3);
    if (strcmp(cmd, "source") == 0 && strcmp(sub, "media") == 0)
        return ch_cmd_source_media(argc - 3, argv + 3);
    if (strcmp(cmd, "source") == 0 && strcmp(sub, "rotate") == 0)
        return ch_cmd_source_rotate(argc - 3, argv + 3);
    if (strcmp(cmd, "doctor") == 0) return ch_cmd_doctor(argc - 2, argv + 2);
    if (strcmp(cmd, "apikey") == 0 && strcmp(sub, "add") == 0)
        return ch_cmd_apikey_add(argc - 3, argv + 3);
    fprintf(stderr, "callhook: unknown command '%s%s%s'\n\n", cmd, *sub ? " " : "", sub);
    usage(stderr);
    return 2;
}
