/* fake-root.c: helpers that build and tear down fake /proc and sysfs trees
 * in temp dirs for the probe tests. */
#include "fake-root.h"

#include <ftw.h>
#include <glib/gstdio.h>
#include <unistd.h>

char *
fake_root_new (void)
{
  g_autoptr (GError) error = NULL;
  char *root = g_dir_make_tmp ("ballast-probes-XXXXXX", &error);
  g_assert_no_error (error);
  return root;
}

static int
fake_rm_one (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  return remove (path);
}

void
fake_root_free (char *root)
{
  if (root == NULL)
    return;
  g_assert_cmpint (nftw (root, fake_rm_one, 16, FTW_DEPTH | FTW_PHYS), ==, 0);
  g_free (root);
}

void
fake_mkdir (const char *root, const char *rel)
{
  g_autofree char *path = g_build_filename (root, rel, NULL);
  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
}

void
fake_write (const char *root, const char *rel, const char *content)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (root, rel, NULL);
  g_autofree char *dir = g_path_get_dirname (path);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_true (g_file_set_contents (path, content, -1, &error));
  g_assert_no_error (error);
}

char *
fake_read (const char *root, const char *rel)
{
  g_autofree char *path = g_build_filename (root, rel, NULL);
  char *content = NULL;
  if (!g_file_get_contents (path, &content, NULL, NULL))
    return NULL;
  return content;
}

void
fake_symlink (const char *root, const char *rel, const char *target)
{
  g_autofree char *path = g_build_filename (root, rel, NULL);
  (void) g_remove (path);
  g_assert_cmpint (symlink (target, path), ==, 0);
}

void
fake_remove (const char *root, const char *rel)
{
  g_autofree char *path = g_build_filename (root, rel, NULL);
  g_assert_cmpint (g_remove (path), ==, 0);
}
