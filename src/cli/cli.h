/* The callhook command line: serve and the administration commands (docs/cli.md). */
#ifndef CH_CLI_H
#define CH_CLI_H

int ch_cli_main(int argc, char **argv);

#endif
