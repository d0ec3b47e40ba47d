/* Subordinate id ranges (/etc/subuid, /etc/subgid; subuid(5)). */
#ifndef SB_SUBID_H
#define SB_SUBID_H

struct sb_subid
{
  int errnum;          /* reading the file failed with this errno */
  unsigned long start; /* the first range of ours */
  unsigned long count; /* its length */
  unsigned long total; /* all ids of ours, over every range */
  unsigned long end;   /* one past the highest id anyone has */
};

/* Read FILE's "NAME-OR-ID:START:COUNT" lines for NAME or ID. */
void sb_subid_read (const char *file, const char *name, unsigned long id,
                    struct sb_subid *info);

#endif
