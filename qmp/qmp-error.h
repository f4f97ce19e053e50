/* qmp-error.h: the QMP_ERROR GError domain shared by every part of the QMP
 * library (parser, async client, blocking API, typed helpers). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define QMP_ERROR (qmp_error_quark ())

typedef enum
{
  QMP_ERROR_CONNECT,   /* the socket could not be opened or connected */
  QMP_ERROR_PROTOCOL,  /* the peer broke QMP: bad greeting, wrong-typed field, invalid JSON */
  QMP_ERROR_TIMEOUT,   /* a command, the greeting or the negotiation took too long */
  QMP_ERROR_CLOSED,    /* the connection is closed (EOF, or closed after another error) */
  QMP_ERROR_COMMAND,   /* QEMU answered with an error reply; message is "Class: desc" */
  QMP_ERROR_TOO_LONG,  /* a line exceeded the configured limit */
  QMP_ERROR_IO,        /* a read or write on the socket failed */
  QMP_ERROR_CANCELLED, /* the client was freed with the command still pending */
  QMP_ERROR_NOT_FOUND, /* a typed helper could not find what it looks for */
} QmpError;

GQuark qmp_error_quark (void);

G_END_DECLS
