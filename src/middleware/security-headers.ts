import helmet from 'helmet';

/** Security headers: a CSP with no inline script and no other origin, no framing, same-origin referrers. */
export const securityHeaders = helmet({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      fontSrc: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
    },
  },
  // no-referrer would make browsers send `Origin: null` on this site's own posts (middleware/same-origin.ts).
  referrerPolicy: { policy: 'same-origin' },
});
