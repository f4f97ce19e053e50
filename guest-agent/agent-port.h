/* agent-port.h: the agent's link to the host: the virtio-serial port, found by
 * name and reopened when it goes, and newline-delimited lines both ways. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent-json.h"
#include "agent-wire.h"

typedef struct
{
  const char *path; /* --port, or NULL: found by name */
  bool use_stdout;  /* --stdout: write stdout, read stdin */
  int fd;           /* -1 while closed */
  bool host_connected;
  bool stdin_open;
  uint64_t next_probe_ms;
  /* the host line being read */
  char inbuf[AGENT_WIRE_MAX_LINE_BYTES + 1];
  size_t inlen;
  bool in_discarding; /* over-long: skipped up to its newline */
  uint64_t lines_too_long;
} AgentPort;

/* A closed port, found by name; set path or use_stdout before the first track. */
void agent_port_init (AgentPort *p);
/* Closes the port (never stdout); the host end counts as gone. */
void agent_port_close (AgentPort *p);

/* --stdout: the port is stdout, connected from the start; host lines come
 * from stdin (made non-blocking) until it closes. */
void agent_port_start_stdio (AgentPort *p);

/* Opens the port when it is closed and a probe is due (every few seconds),
 * then checks the host end. Returns true when the host end has just
 * connected: the line reader is reset and the caller greets the host. */
bool agent_port_track (AgentPort *p, uint64_t now_ms);

/* Appends a newline to @b and writes the line. Returns false when it was
 * dropped instead: @b overflowed or is over the line limit, no host end, the
 * host is not reading (a write never blocks), or the port broke (it is then
 * closed and probed again at the next track). */
bool agent_port_send_line (AgentPort *p, AgentBuf *b);

/* The descriptor host lines arrive on, or -1 while there is none to poll. */
int agent_port_input_fd (const AgentPort *p);

typedef void (*AgentLineFunc) (const char *line, size_t len, void *user_data);

/* Handles what poll reported on @fd (from agent_port_input_fd): every
 * complete line goes to @fn. On EOF, an error or a hang-up @fd is no longer
 * polled: stdin for good, the port until the host end connects again. */
void agent_port_handle_input (AgentPort *p, int fd, short revents, AgentLineFunc fn,
                              void *user_data);
