/* fake-root.h: temp-dir trees with synthetic /proc and sysfs content for the
 * probe tests; everything is removed again by fake_root_free(). */
#pragma once

#include <glib.h>

/* Creates an empty temp dir; returns its path. */
char *fake_root_new (void);
/* Removes the tree and frees the path. */
void fake_root_free (char *root);
/* Writes `content` to root/rel, creating parent dirs. */
void fake_write (const char *root, const char *rel, const char *content);
/* Returns root/rel's content (newly allocated), or NULL if unreadable. */
char *fake_read (const char *root, const char *rel);
/* Creates root/rel as a directory (with parents). */
void fake_mkdir (const char *root, const char *rel);
/* Makes root/rel a symlink to `target`, replacing what was there. */
void fake_symlink (const char *root, const char *rel, const char *target);
void fake_remove (const char *root, const char *rel);
