/* cmds.c -- the command table of loyalctl: each command's arguments, options,
 * needs and help texts (ctl.h). A new command is a row here and a cmd_<name>.c. */
#include <stddef.h>
#include <string.h>

#include "node/ctl/ctl.h"

#define S_PROFILE_HELP                                                                             \
    "  --name NAME              the customer's name (up to 100 bytes of UTF-8)\n"                  \
    "  --birthday YYYY-MM-DD    date of birth\n"                                                   \
    "  --email EMAIL            e-mail address (up to 128 bytes)\n"                                \
    "  --phone PHONE            phone number (up to 32 bytes)\n"                                   \
    "  --prefs TEXT             preferences (up to 200 bytes)\n"                                   \
    "                           (an empty value, as in --email '', clears a field)\n"

const ctl_cmd ctl_cmds[] = {
    {.name = "enroll",
     .run = ctl_run_enroll,
     .needs = CTL_NEEDS_NODE,
     .npos = 1,
     .pos = {"CUSTOMER"},
     .opts = CTL_O_PROFILE | CTL_O(CTL_O_TXN),
     .synopsis =
         "CUSTOMER [--name N] [--birthday YYYY-MM-DD] [--email E] [--phone P] [--prefs TEXT] "
         "[--txn ID]",
     .summary = "enroll a customer",
     .help = "Enroll CUSTOMER, with any profile fields given. The transaction id defaults to\n"
             "'enroll:CUSTOMER', so running the same enroll again is safe and changes nothing.\n\n"
             "options:\n" S_PROFILE_HELP
             "  --txn ID                 transaction id (default enroll:CUSTOMER)\n"},
    {.name = "earn",
     .run = ctl_run_earn,
     .needs = CTL_NEEDS_NODE,
     .npos = 2,
     .pos = {"CUSTOMER", "AMOUNT_MINOR"},
     .opts = CTL_O(CTL_O_TXN) | CTL_O(CTL_O_CATEGORY),
     .required = CTL_O(CTL_O_TXN),
     .synopsis = "CUSTOMER AMOUNT_MINOR --txn ID [--category C]",
     .summary = "award points for a purchase",
     .help = "Award CUSTOMER the points for a purchase of AMOUNT_MINOR minor currency units\n"
             "(1299 for 12.99). The node computes the points from its program and the\n"
             "customer's tier. Retrying with the same --txn returns the original result.\n\n"
             "options:\n"
             "  --txn ID                 the sale's transaction id (required)\n"
             "  --category C             purchase category, for category multipliers\n"},
    {.name = "redeem",
     .run = ctl_run_redeem,
     .needs = CTL_NEEDS_NODE,
     .npos = 2,
     .pos = {"CUSTOMER", "POINTS"},
     .opts = CTL_O(CTL_O_TXN),
     .required = CTL_O(CTL_O_TXN),
     .synopsis = "CUSTOMER POINTS --txn ID",
     .summary = "redeem points",
     .help = "Redeem POINTS from CUSTOMER's balance. Refused (exit 1, insufficient_points)\n"
             "when the customer's balance is smaller.\n\n"
             "A branch redeems only the rights it holds: the customer's points are split\n"
             "among the branches (points earned at a branch are its rights). When this\n"
             "branch holds too few, it asks the other branches to transfer rights and waits\n"
             "a bounded time; if they do not arrive in time the redemption is refused (exit\n"
             "1, insufficient_local_rights) with the points redeemable at this branch now\n"
             "(\"available\" with --json): redeem at most that many, or try again once the\n"
             "other branches can be reached.\n\n"
             "options:\n"
             "  --txn ID                 transaction id (required)\n"},
    {.name = "reverse",
     .run = ctl_run_reverse,
     .needs = CTL_NEEDS_NODE,
     .npos = 1,
     .pos = {"ORIGINAL_TXN"},
     .opts = CTL_O(CTL_O_TXN) | CTL_O(CTL_O_AMOUNT),
     .required = CTL_O(CTL_O_TXN),
     .synopsis = "ORIGINAL_TXN --txn ID [--amount AMOUNT]",
     .summary = "refund all or part of an earn or a redemption",
     .help = "Reverse the earn or redemption ORIGINAL_TXN: a refund takes back the points of\n"
             "an earn (possibly leaving a debt if they were spent), a reversed redemption\n"
             "gives the points back.\n\n"
             "options:\n"
             "  --txn ID                 the reversal's own transaction id (required)\n"
             "  --amount AMOUNT          part to reverse: minor units for an earn, points for a\n"
             "                           redemption (default: all that is left)\n"},
    {.name = "adjust",
     .run = ctl_run_adjust,
     .needs = CTL_NEEDS_NODE,
     .npos = 2,
     .pos = {"CUSTOMER", "POINTS"},
     .opts = CTL_O(CTL_O_TXN) | CTL_O(CTL_O_REASON) | CTL_O(CTL_O_OPERATOR),
     .required = CTL_O(CTL_O_TXN) | CTL_O(CTL_O_REASON),
     .synopsis = "CUSTOMER POINTS --reason TEXT --txn ID [--operator NAME]",
     .summary = "add or remove points by hand, with a reason",
     .help =
         "Add POINTS to CUSTOMER's balance, or remove them when negative (e.g. -50), as a\n"
         "goodwill gesture or a correction.\n\n"
         "options:\n"
         "  --reason TEXT            why (required, up to 200 bytes)\n"
         "  --txn ID                 transaction id (required)\n"
         "  --operator NAME          who (default $LOYAL_OPERATOR, else $USER, else loyalctl)\n"},
    {.name = "tier",
     .run = ctl_run_tier,
     .needs = CTL_NEEDS_NODE,
     .npos = 2,
     .pos = {"CUSTOMER", "TIER"},
     .opts = CTL_O(CTL_O_UNTIL) | CTL_O(CTL_O_REASON) | CTL_O(CTL_O_TXN) | CTL_O(CTL_O_OPERATOR),
     .required = CTL_O(CTL_O_UNTIL) | CTL_O(CTL_O_REASON) | CTL_O(CTL_O_TXN),
     .synopsis = "CUSTOMER TIER --until YYYY-MM-DD --reason TEXT --txn ID [--operator NAME]",
     .summary = "give a customer a tier by hand until a date",
     .help =
         "Give CUSTOMER the tier TIER (a tier of the program in force) through the day\n"
         "--until (UTC, inclusive), whatever their points say: a regular who deserves\n"
         "Gold, a complaint made good. It replicates like any change and shows in the\n"
         "history with its reason and operator; earns use its multiplier. From the day\n"
         "after, the program's tier rules hold again. A later manual tier replaces an\n"
         "earlier one (to end one early, give the tier the points earn until today).\n\n"
         "options:\n"
         "  --until YYYY-MM-DD       its last day (required; today or later)\n"
         "  --reason TEXT            why (required, up to 200 bytes)\n"
         "  --txn ID                 transaction id (required)\n"
         "  --operator NAME          who (default $LOYAL_OPERATOR, else $USER, else loyalctl)\n"},
    {.name = "customer",
     .run = ctl_run_customer,
     .needs = CTL_NEEDS_NODE,
     .npos = 1,
     .pos = {"CUSTOMER"},
     .opts = CTL_O(CTL_O_HISTORY) | CTL_O(CTL_O_PREFETCH),
     .synopsis = "CUSTOMER [--history N] [--prefetch]",
     .summary = "show a customer's balance, tier, profile and history",
     .help = "Show CUSTOMER's balance, lifetime points, debt, tier and progress to the next\n"
             "tier, what is redeemable at this branch now and the rights each branch holds\n"
             "(\"redeemable here: 120; rights: north 120, south 30\"; a negative figure is a\n"
             "refund taken back there after the points were spent), profile, and recent\n"
             "history, newest first; a transfer line shows the rights moved between\n"
             "branches (\"transfer 50 ... node 1 (north) \u2192 node 2 (south)\").\n\n"
             "options:\n"
             "  --history N              history entries, 1 to 50 (default 10)\n"
             "  --prefetch               the card was scanned for a purchase: start moving\n"
             "                           the customer's rights to this branch now, so a\n"
             "                           redemption that follows needs no wait (a plain\n"
             "                           lookup changes nothing)\n"},
    {.name = "set-profile",
     .run = ctl_run_set_profile,
     .needs = CTL_NEEDS_NODE,
     .npos = 1,
     .pos = {"CUSTOMER"},
     .opts = CTL_O_PROFILE | CTL_O(CTL_O_TXN),
     .required = CTL_O(CTL_O_TXN),
     .synopsis =
         "CUSTOMER --txn ID [--name N] [--birthday D] [--email E] [--phone P] [--prefs TEXT]",
     .summary = "change a customer's profile",
     .help = "Set the given profile fields of CUSTOMER; the others are left as they are.\n\n"
             "options:\n"
             "  --txn ID                 transaction id (required)\n" S_PROFILE_HELP},
    {.name = "status",
     .run = ctl_run_status,
     .needs = CTL_NEEDS_NODE,
     .npos = 0,
     .pos = {NULL},
     .opts = 0,
     .synopsis = "",
     .summary = "show the node's state and its view of the other nodes",
     .help = "Show the node's id, name, client endpoint, incarnation, program version, event\n"
             "and customer counts, version vector (origin:seq), state digest, clock, uptime,\n"
             "store use; the transfers of rights it gave (sent) and received and the\n"
             "requests for rights it sent to peers, since it started, and the redemptions\n"
             "waiting for rights now (pending); then one row per peer, as this node sees\n"
             "it:\n\n"
             "  ID, NAME, ENDPOINT  the peer and its peer endpoint (from this node's config)\n"
             "  STATE               up (session established and heard recently) or down\n"
             "  LAST HEARD          time since its last message, or never\n"
             "  EVENTS              its event count, as it last announced\n"
             "  BEHIND              events this node holds that the peer lacks\n"
             "  MISSING             events the peer holds that this node lacks\n"
             "  LAG                 age of the oldest event the peer lacks (0 ms: none)\n"
             "  DIGEST              its state digest, as it last announced\n"
             "  CONVERGED           yes: same version vector and digest as this node\n"
             "  SENT, RECEIVED      events sent to it, and received from it and applied here\n"
             "  DROPPED             messages to it dropped (queue full or link down); the\n"
             "                      peer repairs such gaps by catch-up\n"},
    {.name = "verify",
     .run = ctl_run_verify,
     .needs = CTL_NEEDS_NODE | CTL_NEEDS_CONFIG,
     .npos = 0,
     .pos = {NULL},
     .opts = CTL_O(CTL_O_CONFIG),
     .synopsis = "[--timeout SECONDS] [--config FILE]",
     .summary = "check that every node of the chain holds the same state",
     .help = "Ask every node of the chain for its status and compare them. The chain is\n"
             "this node (--node, or the [node] listen endpoint of a loyald config file with\n"
             "--config) and every peer in its status, each asked at the client endpoint it\n"
             "announced (a peer that has announced none counts as not answering). Nodes are\n"
             "asked one after the other, each within --timeout (default 5 s).\n\n"
             "One line per node: id, name, client endpoint, whether it answered, its event\n"
             "count and digest, and how many events it lacks of the union of all the nodes'\n"
             "version vectors (for each origin and incarnation, the highest sequence number\n"
             "any node holds, minus its own).\n\n"
             "With keys (--key), the node's public key comes from the config's [node] key\n"
             "unless --node-key is given, and each peer is asked with the key of its [peer]\n"
             "section there; without --config the peers' keys are unknown and they are not\n"
             "asked. Loading the config reads the node's secret key file: run it as the\n"
             "node's user.\n\n"
             "options:\n"
             "  --config FILE            the loyald config file of the node to start from\n"
             "                           (instead of --node; a wildcard listen host such as\n"
             "                           tcp://*:7101 is asked at 127.0.0.1)\n",
     .exit_text = "exit status:\n"
                  "  0  every node answered, and all hold the same events and the same digest\n"
                  "  1  a node differs or did not answer (or the first node refused, or is not\n"
                  "     the node that --config describes)\n"
                  "  2  usage error (or an unreadable --config file); nothing was sent\n"
                  "  3  the first node was unreachable or did not answer in time\n"},
    {.name = "debts",
     .run = ctl_run_debts,
     .needs = CTL_NEEDS_NODE,
     .npos = 0,
     .pos = {NULL},
     .opts = CTL_O(CTL_O_LIMIT) | CTL_O(CTL_O_AFTER) | CTL_O(CTL_O_ALL),
     .synopsis = "[--limit N] [--after CUSTOMER] [--all]",
     .summary = "list the customers who owe points",
     .help = "List the customers with a debt: points refunded after they were already spent.\n"
             "Their next earnings repay the debt first. One line per customer, by customer\n"
             "id: the debt, lifetime points and the time of the last activity; then how many\n"
             "customers were listed and what they owe together.\n\n"
             "options:\n"
             "  --limit N                customers per request, 1 to 100 (default 100);\n"
             "                           without --all, the most listed\n"
             "  --after CUSTOMER         start after this customer id (to continue a listing)\n"
             "  --all                    ask page after page until every debt is listed\n"},
    {.name = "conflicts",
     .run = ctl_run_conflicts,
     .needs = CTL_NEEDS_NODE,
     .npos = 0,
     .pos = {NULL},
     .opts = CTL_O(CTL_O_LIMIT) | CTL_O(CTL_O_AFTER),
     .synopsis = "[--limit N] [--after KEY]",
     .summary = "list transaction ids used for different requests",
     .help = "List the conflicts the node holds: transaction ids (once keys) under which\n"
             "branches that could not see each other made different requests, such as a\n"
             "till that reused a receipt number for another sale while the link was down.\n"
             "Exactly one of them counts, the same one at every branch: the earliest\n"
             "(clock, then node, incarnation and sequence); the others are void and change\n"
             "nothing. A retry of the same request elsewhere is not a conflict (it is a\n"
             "duplicate, counted in `status`). One block per key, by key: each event with\n"
             "its branch, time, type, customer, points and request, the one that counts\n"
             "first. Resolve a real one by hand (for example an adjust with a reason).\n\n"
             "options:\n"
             "  --limit N                conflicts to list, 1 to 10 (default 10)\n"
             "  --after KEY              start after this key (to continue a listing)\n"},
    {.name = "events",
     .run = ctl_run_events,
     .needs = CTL_NEEDS_NODE,
     .npos = 0,
     .pos = {NULL},
     .opts = CTL_O(CTL_O_ORIGIN) | CTL_O(CTL_O_SINCE) | CTL_O(CTL_O_LIMIT),
     .synopsis = "[--origin ID] [--since SEQ] [--limit N]",
     .summary = "list the node's events",
     .help = "List the events the node holds, one per line, by origin and sequence number:\n"
             "ORIGIN:SEQ TIME TYPE CUSTOMER POINTS, then key=value fields. A transfer of\n"
             "rights shows the points moved and the receiving node (\"transfer C1 50 \u2192\n"
             "node 2\"); it does not change the balance.\n\n"
             "options:\n"
             "  --origin ID              only events created by node ID\n"
             "  --since SEQ              only events with a sequence number above SEQ\n"
             "  --limit N                at most N events, 1 to 100 (default 100)\n"},
    {.name = "keygen",
     .run = ctl_run_keygen,
     .npos = 1,
     .pos = {"NAME"},
     .opts = CTL_O(CTL_O_DIR),
     .synopsis = "NAME [--dir DIR]",
     .summary = "make a CurveZMQ key pair (no node needed)",
     .help = "Make a new CurveZMQ key pair for a branch node, a till or an operator and write\n"
             "it to DIR (default: the current directory): NAME.key holds the secret key\n"
             "(mode 0600; keep it on the machine that uses it) and NAME.pub the public key\n"
             "(40 characters of Z85), which goes into the configs of the nodes it talks to.\n"
             "NAME is 1 to 63 letters, digits, '.', '_' or '-'. An existing key is never\n"
             "overwritten, and a directory anyone may write is refused. Prints the public\n"
             "key; with --json the object {name, secret_file, public_file, public}.\n\n"
             "options:\n"
             "  --dir DIR                where to write the files (default .)\n",
     .exit_text = "exit status:\n"
                  "  0  the pair was written\n"
                  "  1  refused: a file of that name exists, the directory is unsafe, or it\n"
                  "     cannot be written (nothing is left behind)\n"
                  "  2  usage error (a bad NAME); nothing was written\n"},
    {.name = "program check",
     .run = ctl_run_program_check,
     .npos = 1,
     .pos = {"FILE"},
     .synopsis = "FILE",
     .summary = "check a program file (no node needed)",
     .help = "Read and check the program file FILE (see deploy/program.example.ini and the\n"
             "README): every section, key and value, and the rules between them (tier\n"
             "thresholds increasing from 0, campaign dates in order, ...). Nothing is sent to\n"
             "any node. Prints the program's name, version, effective time, size and hash;\n"
             "an error is printed as FILE:LINE: reason.\n",
     .exit_text = "exit status:\n"
                  "  0  the file is a valid program\n"
                  "  2  it is not (FILE:LINE: reason on stderr), or it cannot be read\n"},
    {.name = "program apply",
     .run = ctl_run_program_apply,
     .needs = CTL_NEEDS_NODE,
     .npos = 1,
     .pos = {"FILE"},
     .opts = CTL_O(CTL_O_OPERATOR) | CTL_O(CTL_O_REASON),
     .synopsis = "FILE [--operator NAME] [--reason TEXT]",
     .summary = "make a program file the chain's program",
     .help = "Check FILE as 'program check' does, then send it to the node, which makes it a\n"
             "program version of the whole chain: it replicates like any event, and every\n"
             "branch that holds it runs the same rules. It governs events from its effective\n"
             "time on (from now if the file sets none) and never changes points already\n"
             "awarded. Versions only increase: a version not above the newest one the node\n"
             "holds is refused (exit 1); applying the same file again changes nothing. If two\n"
             "branches that cannot see each other apply the same version number, the one\n"
             "applied first (by clock) counts everywhere and the other is listed as lost by\n"
             "'program history'.\n\n"
             "options:\n"
             "  --operator NAME          who applies it (default $LOYAL_OPERATOR, else $USER,\n"
             "                           else loyalctl)\n"
             "  --reason TEXT            why, for the history (up to 200 bytes)\n",
     .exit_text = "exit status:\n"
                  "  0  applied (or it was applied already with the same content)\n"
                  "  1  the node refused it (a version not above the newest it holds, ...)\n"
                  "  2  usage error or an invalid program file; nothing was sent\n"
                  "  3  the node was unreachable or did not answer in time\n"},
    {.name = "program show",
     .run = ctl_run_program_show,
     .needs = CTL_NEEDS_NODE,
     .npos = 0,
     .pos = {NULL},
     .opts = CTL_O(CTL_O_VERSION),
     .synopsis = "[--version N]",
     .summary = "print the program in force as a program file",
     .help = "Print the program the node runs now (or version N) as a program file that\n"
             "'program check' accepts, after comment lines that say its version, hash, when\n"
             "and by whom it was applied, and any version scheduled for later. Before any\n"
             "program is applied it prints the default program, version 0. With --json the\n"
             "file is the member \"text\".\n\n"
             "options:\n"
             "  --version N              that version instead of the one in force\n"},
    {.name = "program history",
     .run = ctl_run_program_history,
     .needs = CTL_NEEDS_NODE,
     .npos = 0,
     .pos = {NULL},
     .opts = CTL_O(CTL_O_VERSION),
     .synopsis = "[--version N]",
     .summary = "list the program versions with who applied them, where and when",
     .help = "List the program versions the node holds, highest first (up to 20): state (in\n"
             "force, scheduled, superseded, or lost: the same number was applied elsewhere\n"
             "first; it ran only at its branch until the branches met), name, effective\n"
             "time, when, at which branch and by whom\n"
             "it was applied, its hash and reason.\n\n"
             "options:\n"
             "  --version N              list version N and older ones\n"},
};

const size_t ctl_ncmds = sizeof ctl_cmds / sizeof ctl_cmds[0];

int ctl_is_family(const char *word)
{
    size_t n = strlen(word);
    for (size_t i = 0; i < ctl_ncmds; i++)
        if (strncmp(ctl_cmds[i].name, word, n) == 0 && ctl_cmds[i].name[n] == ' ')
            return 1;
    return 0;
}

const ctl_cmd *ctl_find_cmd(const char *name)
{
    for (size_t i = 0; i < ctl_ncmds; i++)
        if (strcmp(ctl_cmds[i].name, name) == 0)
            return &ctl_cmds[i];
    return NULL;
}
