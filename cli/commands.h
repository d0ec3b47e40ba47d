/* One function per verb; each returns the process exit status. */
#ifndef NB_COMMANDS_H
#define NB_COMMANDS_H

int cmd_run (int argc, char **argv);
int cmd_doctor (int argc, char **argv);
int cmd_ls (int argc, char **argv);
int cmd_agents (int argc, char **argv);
int cmd_unshare (int argc, char **argv);
int cmd_system (int argc, char **argv);
int cmd_rm (int argc, char **argv);
int cmd_exec (int argc, char **argv);
int cmd_stop (int argc, char **argv);
int cmd_inspect (int argc, char **argv);
int cmd_volume (int argc, char **argv);
int cmd_prune (int argc, char **argv);
int cmd_oci (int argc, char **argv);
int cmd_policy (int argc, char **argv);
int cmd_network (int argc, char **argv);
int cmd_stats (int argc, char **argv);
int cmd_update (int argc, char **argv);
/* pull, load, images, rmi, image: run from nsbox-images.so. */
int cmd_image (int argc, char **argv);

#endif
