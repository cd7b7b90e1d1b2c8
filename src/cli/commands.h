/* One function per command; each returns the process exit status. Internal to cli/. */
#ifndef CH_COMMANDS_H
#define CH_COMMANDS_H

int ch_cmd_serve(int argc, char **argv);
int ch_cmd_migrate(int argc, char **argv);
int ch_cmd_demo(int argc, char **argv);
int ch_cmd_tenant_add(int argc, char **argv);
int ch_cmd_tenant_list(int argc, char **argv);
int ch_cmd_source_add(int argc, char **argv);
/* `source media SLUG SOURCE_ID …`: how the source's recordings are fetched */
int ch_cmd_source_media(int argc, char **argv);
/* `source rotate SLUG SOURCE_ID password|token|secret [--value V]` (cli/doctor.c) */
int ch_cmd_source_rotate(int argc, char **argv);
/* `doctor SLUG`: the diagnostics report, as GET /v1/diagnostics answers it (cli/doctor.c) */
int ch_cmd_doctor(int argc, char **argv);
int ch_cmd_apikey_add(int argc, char **argv);
int ch_cmd_import(int argc, char **argv);
int ch_cmd_directory(const char *what, const char *sub, int argc, char **argv);
int ch_cmd_endpoint(const char *sub, int argc, char **argv);
int ch_cmd_delivery(const char *sub, int argc, char **argv);
int ch_cmd_changes(int argc, char **argv);
int ch_cmd_pipeline(const char *sub, int argc, char **argv);
int ch_cmd_dictionary(const char *sub, int argc, char **argv);
int ch_cmd_call(const char *sub, int argc, char **argv);
/* `user add|list|remove|passwd`: the dashboard's users */
int ch_cmd_user(const char *sub, int argc, char **argv);

#endif
