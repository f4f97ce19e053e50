/* qmp-test-peer.h: a scripted QMP peer for the client tests: a thread that
 * accepts one connection on a temp unix socket and plays a list of steps. */
#pragma once

#include <gio/gio.h>

typedef enum
{
  PEER_END = 0,
  PEER_SEND,   /* write `text`; "$IDn" is replaced by the id of the n-th EXPECT;
                * with `size` > 0, exactly `size` raw bytes */
  PEER_EXPECT, /* read one line; it must execute `text` */
  PEER_PAUSE,  /* sleep `size` ms so the client sees separate reads */
  PEER_FILL,   /* write `size` bytes of 'x' (no newline) */
  PEER_CLOSE,  /* close the connection */
  PEER_ACCEPT, /* accept the next connection (after a CLOSE) */
} PeerStepKind;

typedef struct
{
  PeerStepKind kind;
  const char *text;
  gsize size;
} PeerStep;

#define SEND(t)                                                                                    \
  {                                                                                                \
    PEER_SEND, (t), 0                                                                              \
  }
#define EXPECT(c)                                                                                  \
  {                                                                                                \
    PEER_EXPECT, (c), 0                                                                            \
  }
#define PAUSE(ms)                                                                                  \
  {                                                                                                \
    PEER_PAUSE, NULL, (ms)                                                                         \
  }
#define FILL(n)                                                                                    \
  {                                                                                                \
    PEER_FILL, NULL, (n)                                                                           \
  }
#define CLOSE                                                                                      \
  {                                                                                                \
    PEER_CLOSE, NULL, 0                                                                            \
  }
#define ACCEPT                                                                                     \
  {                                                                                                \
    PEER_ACCEPT, NULL, 0                                                                           \
  }

#define GREETING                                                                                   \
  "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "               \
  "\"package\": \"test\"}, \"capabilities\": [\"oob\"]}}\r\n"
/* Greeting plus a successful negotiation: EXPECT #0 is qmp_capabilities. */
#define NEGOTIATE                                                                                  \
  SEND (GREETING), EXPECT ("qmp_capabilities"), SEND ("{\"return\": {}, \"id\": $ID0}\r\n")

typedef struct _Peer Peer;

/* Listens on a fresh socket in a temp dir and starts the script thread. */
Peer *peer_start (const PeerStep *steps);
const char *peer_path (Peer *peer);
/* Joins the thread (bounded by socket timeouts), removes the socket and
 * fails the test if the script went wrong. Returns how many EXPECT steps
 * matched. */
guint peer_finish (Peer *peer);
/* As peer_finish; also hands over the "arguments" of each matched EXPECT,
 * in order, as compact JSON with sorted keys ("null" when there were none). */
guint peer_finish_with_arguments (Peer *peer, GPtrArray **arguments);
