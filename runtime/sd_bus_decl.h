/* The part of libsystemd's sd-bus API (<systemd/sd-bus.h>, stable since
 * systemd 221) that runtime/systemd_scope.c uses.  The real header is used
 * wherever libsystemd-dev is installed; this copy of its declarations lets
 * the plugin build against the runtime library alone (libsystemd.so.0),
 * where the development package cannot be had. */
#ifndef NB_SD_BUS_DECL_H
#define NB_SD_BUS_DECL_H

#if __has_include(<systemd/sd-bus.h>)
#include <systemd/sd-bus.h>
#else
#include <stdint.h>

typedef struct sd_bus sd_bus;
typedef struct sd_bus_message sd_bus_message;
typedef struct sd_bus_slot sd_bus_slot;
typedef struct
{
  const char *name;
  const char *message;
  int _need_free;
} sd_bus_error;
#define SD_BUS_ERROR_NULL ((const sd_bus_error){ NULL, NULL, 0 })
typedef int (*sd_bus_message_handler_t) (sd_bus_message *m, void *userdata,
                                         sd_bus_error *ret_error);

int sd_bus_open_user (sd_bus **ret);
int sd_bus_new (sd_bus **ret);
int sd_bus_set_address (sd_bus *bus, const char *address);
int sd_bus_set_bus_client (sd_bus *bus, int b);
int sd_bus_start (sd_bus *bus);
sd_bus *sd_bus_flush_close_unref (sd_bus *bus);
int sd_bus_process (sd_bus *bus, sd_bus_message **r);
int sd_bus_wait (sd_bus *bus, uint64_t timeout_usec);
int sd_bus_call (sd_bus *bus, sd_bus_message *m, uint64_t usec,
                 sd_bus_error *ret_error, sd_bus_message **reply);
int sd_bus_match_signal (sd_bus *bus, sd_bus_slot **ret, const char *sender,
                         const char *path, const char *interface,
                         const char *member, sd_bus_message_handler_t callback,
                         void *userdata);
int sd_bus_get_property_string (sd_bus *bus, const char *destination,
                                const char *path, const char *interface,
                                const char *member, sd_bus_error *ret_error,
                                char **ret);
int sd_bus_request_name (sd_bus *bus, const char *name, uint64_t flags);
int sd_bus_add_object (sd_bus *bus, sd_bus_slot **slot, const char *path,
                       sd_bus_message_handler_t callback, void *userdata);
int sd_bus_reply_method_return (sd_bus_message *call, const char *types,
                                ...);
int sd_bus_emit_signal (sd_bus *bus, const char *path, const char *interface,
                        const char *member, const char *types, ...);
int sd_bus_message_new_method_call (sd_bus *bus, sd_bus_message **m,
                                    const char *destination, const char *path,
                                    const char *interface,
                                    const char *member);
sd_bus_message *sd_bus_message_unref (sd_bus_message *m);
int sd_bus_message_append (sd_bus_message *m, const char *types, ...);
int sd_bus_message_open_container (sd_bus_message *m, char type,
                                   const char *contents);
int sd_bus_message_close_container (sd_bus_message *m);
int sd_bus_message_enter_container (sd_bus_message *m, char type,
                                    const char *contents);
int sd_bus_message_exit_container (sd_bus_message *m);
int sd_bus_message_read (sd_bus_message *m, const char *types, ...);
int sd_bus_message_skip (sd_bus_message *m, const char *types);
int sd_bus_message_peek_type (sd_bus_message *m, char *type,
                              const char **contents);
const char *sd_bus_message_get_member (sd_bus_message *m);
const char *sd_bus_message_get_interface (sd_bus_message *m);
void sd_bus_error_free (sd_bus_error *e);
#endif

#endif
