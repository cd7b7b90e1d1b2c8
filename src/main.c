#include "cli/cli.h"

int main(int argc, char **argv)
{
    return ch_cli_main(argc, argv);
}
