import type { Request, Response } from 'express';
import { refusalOf } from '../http/errors.ts';
import { flash } from '../http/flash.ts';
import { type ArchiveKind, setArchived } from '../services/archive.ts';

/** The item a page's archive form acts on, and where its page is. */
export interface ArchiveTarget {
  kind: ArchiveKind;
  id: string;
  display_name: string;
  page: string;
}

/**
 * The handler of an item's "Archive" or "Unarchive" form (admins, CSRF, as every write): 303 to its
 * page with a flash; a refusal (it still serves) shows the page again, 422, the reason beside the form.
 */
export const archiving =
  (
    db: Parameters<typeof setArchived>[0],
    archive: boolean,
    targetOf: (res: Response) => ArchiveTarget,
    refused: (req: Request, res: Response, reason: string) => Promise<void>,
  ) =>
  async (req: Request, res: Response) => {
    const target = targetOf(res);
    try {
      await setArchived(db, req.principal!, target, archive);
      const done = archive ? 'archived: hidden from pickers, its history kept' : 'back in use';
      flash(req, 'success', `${target.display_name} is ${done}.`);
      res.redirect(303, target.page);
    } catch (err) {
      await refused(req, res, refusalOf(err).message);
    }
  };
